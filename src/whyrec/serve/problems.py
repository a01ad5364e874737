"""Errors as JSON problem details (RFC 9457): `type`, `title`, `status`, `detail`; never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from whyrec.errors import ArtifactError, ConfigError, DataError, NotFoundError, WhyrecError

log = logging.getLogger("whyrec.serve")

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Request too large",
    422: "Invalid input",
    500: "Internal error",
    503: "Unavailable",
}


class Problem(BaseModel):
    """The body of every error response (RFC 9457 problem details)."""

    type: str  # a stable slug, e.g. "/problems/unauthorized"
    title: str
    status: int
    detail: str


# Documented on every operation, so clients and schema-driven tools know errors are problem details.
RESPONSES: dict[int | str, dict] = {
    status: {"content": {"application/problem+json": {"schema": Problem.model_json_schema()}}, "description": title}
    for status, title in ((400, "Bad request"), (401, "Unauthorized"), (403, "Forbidden"), (404, "Not found"), (413, "Request too large"),
                          (422, "Invalid input"), (500, "Internal error"))
}  # fmt: skip


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A problem-details response; `type` is a stable slug a client can switch on."""
    title = _TITLES.get(status, "Error")
    body = {"type": f"/problems/{title.lower().replace(' ', '-')}", "title": title, "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def _status_of(exc: WhyrecError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, (DataError, ConfigError)):
        return 422
    if isinstance(exc, ArtifactError):
        return 503
    return 500


def install(app: FastAPI) -> None:
    """Route every error through `problem`, so clients only ever see problem details."""

    @app.exception_handler(WhyrecError)
    async def _whyrec(_: Request, exc: WhyrecError) -> JSONResponse:
        status = _status_of(exc)
        return problem(status, str(exc) if status < 500 else "the server could not complete the request")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:5]:
            loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
            parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
        return problem(422, "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # the route template, not the path: paths carry user ids, which stay out of logs
        route = getattr(request.scope.get("route"), "path", "?")
        log.error("internal error on %s %s: %s", request.method, route, type(exc).__name__, exc_info=exc)
        return problem(500, "the server could not complete the request")

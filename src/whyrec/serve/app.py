"""The HTTP API and web page. `create_app(artifact_dir, store_path)` builds it; the lifespan hook loads models.

Nothing runs at import time (STYLE 8): tests and `whyrec serve` call the factory with their own paths.
Modelling lives in `whyrec.serve.pipeline`; this module only validates, authorises and translates to HTTP.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from whyrec.data.schema import EVENT_TYPES
from whyrec.serve import problems
from whyrec.serve.auth import check_key

Id = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]


def _not_bool(value: Any) -> Any:
    """Refuse JSON true/false where a number is due: pydantic would read them as 1/0."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not true/false")
    return value


NotBool = BeforeValidator(_not_bool)


class ServeSettings(BaseModel):
    """How the server guards itself. The key normally comes from WHYREC_API_KEY."""

    model_config = ConfigDict(extra="forbid")

    api_key: str | None = None  # required for every write; None = writes refused
    keyed_reads: bool = False  # True: reads need the key too
    max_body_bytes: int = 1_000_000  # larger request bodies get 413
    max_k: int = 100  # largest k a client may ask for
    page_writes: bool = False  # the page, opened on localhost, gets a per-run token good for feedback only (the demo)


# Host names the page token is handed to: a page reached by any other name (a LAN address, or a
# DNS-rebinding site that resolves to 127.0.0.1) gets no token, so only a local browser can like.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
LOOPBACK_CLIENTS = frozenset({"::1"})  # and 127.0.0.0/8


def _loopback(request: Request) -> bool:
    """Whether the request came from this machine and named it by a loopback name."""
    host = request.headers.get("host", "")
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    client = request.client.host if request.client else ""
    return name.lower() in LOOPBACK_HOSTS and (client in LOOPBACK_CLIENTS or client.startswith("127."))


class _EventFields(BaseModel):
    """What every live event carries."""

    model_config = ConfigDict(extra="forbid")

    user: Id
    item: Id
    timestamp: Annotated[int | None, NotBool] = Field(None, ge=0, le=32_503_680_000)  # unix seconds; default: now


class BehaviourEventIn(_EventFields):
    """A view, click, cart or purchase: no rating."""

    event: Literal[tuple(e for e in EVENT_TYPES if e != "rating")]  # type: ignore[valid-type]


class RatingEventIn(_EventFields):
    """A rating: its value is required."""

    event: Literal["rating"]
    rating: Annotated[float, NotBool] = Field(ge=1, le=5)


# One schema per event kind, told apart by `event`: a rating must carry a value, other events none.
EventIn = Annotated[BehaviourEventIn | RatingEventIn, Field(discriminator="event")]


class EventsIn(BaseModel):
    """A batch of live events, at most 1000."""

    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=1000)


class FeedbackIn(BaseModel):
    """A shopper's reaction to a recommended item."""

    model_config = ConfigDict(extra="forbid")

    user: Id
    item: Id
    kind: Literal["like", "dismiss", "clear"]  # clear: withdraw the last like / dismiss (undo)


class ItemIn(BaseModel):
    """One catalog row; PUT replaces every field."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=500)
    category: str = Field("", max_length=500)  # path joined with " > "
    brand: str = Field("", max_length=200)
    price: Annotated[float | None, NotBool] = Field(None, ge=0, le=1e9)
    description: str = Field("", max_length=20_000)


class BodyLimit:
    """ASGI middleware: 413 for bodies over `max_bytes`, by Content-Length or, when chunked, by what arrives.

    Plain ASGI rather than @app.middleware("http"), which costs every request a task group.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"request body over {self.max_bytes} bytes"
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await problems.problem(413, too_large)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, too_large)  # FastAPI passes it on to the problem handler
            return message

        await self.app(scope, counted, send)


class WriteAuth:
    """ASGI middleware: a write (any method but GET, HEAD, OPTIONS) under /v1 needs the key, checked before the body is read.

    So an unauthenticated client learns 401/403, never whether its body would have been valid.
    """

    def __init__(self, app: ASGIApp, api_key: str | None, page_token: str | None = None) -> None:
        self.app = app
        self.api_key = api_key
        self.page_token = page_token  # the web page's per-run token: accepted for feedback only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS") and scope["path"].startswith("/v1/"):
            token = self.page_token if scope["method"] == "POST" and scope["path"] == "/v1/feedback" else None
            try:
                check_key(Request(scope), self.api_key, action="writing", page_token=token)
            except HTTPException as exc:
                await problems.problem(exc.status_code, str(exc.detail), headers=exc.headers)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(
    artifact_dir: str | Path, store_path: str | Path, settings: ServeSettings | None = None, opened: Any = None
) -> FastAPI:
    """The app over one trained artifact and one store; models load in the lifespan hook unless an `opened`
    pipeline is given (`whyrec serve` opens it first, so a broken artifact stops it with one line)."""
    settings = settings or ServeSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from whyrec.serve.pipeline import Pipeline

        app.state.pipeline = opened if opened is not None else Pipeline.open(artifact_dir, store_path)
        try:
            yield
        finally:
            app.state.pipeline.close()

    app = FastAPI(
        title="whyrec",
        version="1",
        summary="Recommendations with personal, grounded reasons.",
        lifespan=lifespan,
        responses=problems.RESPONSES,
    )
    problems.install(app)

    # The page's token lives as long as this app and allows feedback only: a leaked one cannot add
    # events, change the catalog or forget anyone.
    page_token = secrets.token_urlsafe(24) if settings.page_writes else None
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(WriteAuth, api_key=settings.api_key, page_token=page_token)  # added last, so it runs first
    # Endpoints return JSONResponse themselves: FastAPI's jsonable_encoder walks every value of a recommendation list again.

    def pipeline(request: Request):  # type: ignore[no-untyped-def]
        return request.app.state.pipeline

    def reader(request: Request) -> None:
        if settings.keyed_reads:
            check_key(request, settings.api_key, action="reading")

    static = resources.files("whyrec.serve") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/app")

    @app.get("/app", include_in_schema=False)
    def page(request: Request) -> Response:
        if page_token is None or not _loopback(request):
            return FileResponse(str(static / "index.html"))
        html = (static / "index.html").read_text(encoding="utf-8")
        meta = f'<meta name="whyrec-page-token" content="{page_token}">'
        return HTMLResponse(html.replace("</head>", meta + "\n</head>", 1), headers={"Cache-Control": "no-store"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(str(static / "favicon.svg"), media_type="image/svg+xml")

    @app.get("/healthz", tags=["ops"])
    def healthz(request: Request) -> JSONResponse:
        """Liveness: answers once the models are loaded."""
        return JSONResponse({"status": "ok", "uptime_s": round(time.monotonic() - request.app.state.started, 1)})

    @app.get("/v1/model", tags=["ops"], dependencies=[Depends(reader)])
    def model(p=Depends(pipeline)) -> JSONResponse:  # type: ignore[no-untyped-def]
        """The artifact served: version, recommender, reasoner, training data, metrics, live counters."""
        return JSONResponse(p.model_info())

    @app.get("/v1/users", tags=["users"], dependencies=[Depends(reader)])
    def users(limit: int = Query(50, ge=1, le=1000), p=Depends(pipeline)) -> JSONResponse:  # type: ignore[no-untyped-def]
        """Raw ids of shoppers the model knows, in id order."""
        return JSONResponse({"users": p.users(limit)})

    @app.get("/v1/users/{user_id}/recommendations", tags=["users"], dependencies=[Depends(reader)])
    def recommendations(user_id: Id, k: int = Query(10, ge=1), p=Depends(pipeline)) -> JSONResponse:  # type: ignore[no-untyped-def]
        """Top-k items with score, reason, aspects, evidence and attribution; `fallback` marks popular items for unknown shoppers."""
        return JSONResponse(p.recommend(user_id, min(k, settings.max_k)))

    @app.get("/v1/users/{user_id}/profile", tags=["users"], dependencies=[Depends(reader)])
    def profile(user_id: Id, p=Depends(pipeline)) -> JSONResponse:  # type: ignore[no-untyped-def]
        """The shopper's interest profile: aspects with sentiment, categories, brands, price band, recent items; 404 with no history."""
        return JSONResponse(p.profile(user_id))

    @app.delete("/v1/users/{user_id}", tags=["users"])
    def forget(user_id: Id, p=Depends(pipeline)) -> JSONResponse:  # type: ignore[no-untyped-def]
        """Forget a shopper in the store, the running model and the artifact; lists what was removed, what needs retraining,
        and whether the store's files are scrubbed yet ("scrub": "scrubbed" or "pending, N readers")."""
        return JSONResponse(p.forget(user_id))

    @app.post("/v1/events", tags=["events"])
    def events(body: EventsIn, p=Depends(pipeline)) -> JSONResponse:  # type: ignore[no-untyped-def]
        """Record behaviour events (repeats are ignored) and fold them into the model without retraining."""
        return JSONResponse(p.record_events([e.model_dump() for e in body.events]))

    @app.post("/v1/feedback", tags=["events"])
    def feedback(body: FeedbackIn, p=Depends(pipeline)) -> JSONResponse:  # type: ignore[no-untyped-def]
        """Like or dismiss a recommended item, or clear that (undo); dismissed items are not recommended to that shopper again."""
        return JSONResponse(p.record_feedback(body.user, body.item, body.kind))

    @app.put("/v1/items/{item_id}", tags=["catalog"])
    def upsert_item(item_id: Id, body: ItemIn, p=Depends(pipeline)) -> JSONResponse:  # type: ignore[no-untyped-def]
        """Create or replace a catalog row; cached reasons about the item are dropped."""
        return JSONResponse(p.upsert_item(item_id, body.model_dump()))

    app.state.started = time.monotonic()
    return app

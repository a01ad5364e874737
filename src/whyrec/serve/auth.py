"""API-key auth for writes (and optionally reads): `Authorization: Bearer <key>`, compared in constant time."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request


def check_key(request: Request, configured: str | None, *, action: str, page_token: str | None = None) -> None:
    """Raise 401/403 unless the request carries the configured key (or `page_token`, where the route accepts the
    web page's per-run token). No key configured and no page token → refuse (secure default)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if page_token and scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), page_token.encode()):
        return
    if not configured:
        raise HTTPException(403, f"{action} is disabled: the server has no API key configured (set WHYREC_API_KEY)")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(token.strip().encode(), configured.encode()):
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})

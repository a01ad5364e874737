"""API-key auth for writes (and optionally reads): `Authorization: Bearer <key>`, compared in constant time."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request


def check_key(request: Request, configured: str | None, *, action: str) -> None:
    """Raise 401/403 unless the request carries the configured key. No key configured → refuse (secure default)."""
    if not configured:
        raise HTTPException(403, f"{action} is disabled: the server has no API key configured (set WHYREC_API_KEY)")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(token.strip().encode(), configured.encode()):
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})

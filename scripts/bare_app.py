"""The framework's ceiling: a bare Litestar app shaped like the service's hot routes, and nothing else.

``scripts/load.py`` starts it exactly as it starts the service (the same
workers, the same socket, uvicorn with the same options) and measures both in
the same run. Each route hashes the bearer token and compares it, as the
service's token check does; the status route answers a constant status
body, the button reads its body and answers a constant result. No ledger, no
access log, no rights.
"""

from __future__ import annotations

import hashlib
from typing import Any

from litestar import Litestar, Request, get, post
from litestar.exceptions import NotAuthorizedException

STATUS = {
    "device": "load-0",
    "as_of": "2026-01-01T00:00:00.000000Z",
    "state": "active",
    "license": {
        "code": "*****-*****-*****-AAAAA",
        "kind": "commercial",
        "activated_at": "2025-06-01T00:00:00Z",
        "expires_at": "2026-06-01T00:00:00Z",
        "provisional": False,
    },
    "backup": None,
    "actions": ["remove_license"],
}
APPENDED = {
    "seq": 1,
    "type": "TryAgainClicked",
    "at": "2026-01-01T00:00:00.000000Z",
    "result": "ignored",
    "reason": "action_not_available",
    "detail": None,
    "stored": True,
}


def create_app(token_sha256: str) -> Litestar:
    def check(request: Request[Any, Any, Any]) -> None:
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or hashlib.sha256(token.encode()).hexdigest() != token_sha256:
            raise NotAuthorizedException()

    @get("/devices/{device:str}/status")
    async def status(request: Request[Any, Any, Any], device: str) -> dict[str, Any]:
        check(request)
        return STATUS

    @post("/devices/{device:str}/try-again", status_code=200)
    async def try_again(request: Request[Any, Any, Any], device: str) -> dict[str, Any]:
        check(request)
        await request.body()
        return APPENDED

    return Litestar([status, try_again], logging_config=None)

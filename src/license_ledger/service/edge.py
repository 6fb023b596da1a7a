"""The HTTP edge of the service: request parsing, errors as statuses, the access log.

Parsing turns bodies and query strings into what the library takes, and
refuses the rest as :class:`~license_ledger.errors.InputRefused` (422),
naming the field. :func:`error_response` is the one place where an error
becomes an HTTP status. :class:`AccessLoggingApp` writes one JSON line per
request: route, status, duration, role; never a token, a body or a code.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import Receive, Scope, Send

from ..engine.moments import moment as checked_moment
from ..errors import InputRefused, LedgerError, UnknownDevice
from .tokens import Forbidden, TokenError

__all__ = [
    "ACCESS_LOG",
    "SERVICE_LOG",
    "AccessLoggingApp",
    "Unauthenticated",
    "batch",
    "error_response",
    "fields",
    "json_body",
    "moment",
    "whole_number",
]

ACCESS_LOG = logging.getLogger("license_ledger.access")
SERVICE_LOG = logging.getLogger("license_ledger.service")


class Unauthenticated(LedgerError):
    """No token, a malformed Authorization header, or a token the service does not know."""


# --- parsing -------------------------------------------------------------------


def json_body(body: bytes, expected: str) -> Any:
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise InputRefused(expected, f"malformed JSON ({exc})") from None


def batch(body: bytes, max_batch: int) -> list[Any]:
    """A body of one event (an object) or a batch (an array), within the batch cap."""
    data = json_body(body, "a JSON event object, or an array of them")
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, list):
        raise InputRefused("a JSON event object, or an array of them", f"a JSON {type(data).__name__}")
    if len(data) > max_batch:
        raise InputRefused(f"at most {max_batch} events in one request", f"{len(data)} events")
    return data


def fields(body: bytes, allowed: tuple[str, ...]) -> dict[str, Any]:
    """A small optional JSON object with only ``allowed`` fields."""
    names = ", ".join(f"`{name}`" for name in allowed)
    if not body.strip():
        return {}
    data = json_body(body, f"a JSON object with {names}")
    if not isinstance(data, dict):
        raise InputRefused(f"a JSON object with {names}", f"a JSON {type(data).__name__}")
    for key in data:
        if key not in allowed:
            raise InputRefused(f"only the fields {names}", f"the unknown field `{key}`", field=f"$.{key}")
    return data


def whole_number(text: str | None, field: str, *, default: int, least: int) -> int:
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = least - 1
    if value < least:
        raise InputRefused(f"a whole number >= {least}", repr(text), field=field)
    return value


def moment(text: str | None, field: str) -> datetime | None:
    return checked_moment(text, field=field)


# --- errors: the one place they become HTTP statuses -----------------------------

_HTTP_ERRORS = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


def error_response(request: Request[Any, Any, State], exc: Exception) -> Response[Any]:
    headers: dict[str, str] = {}
    if isinstance(exc, InputRefused):
        status, body = 422, exc.as_dict()
        body["message"] = f"{body['message']}; nothing was stored"
    elif isinstance(exc, Unauthenticated):
        status, body = 401, {"error": "unauthenticated", "message": str(exc), "stored": False}
        headers["WWW-Authenticate"] = 'Bearer realm="license-ledger"'
    elif isinstance(exc, Forbidden):
        status, body = 403, exc.as_dict()
    elif isinstance(exc, UnknownDevice):
        status, body = 404, {"error": "unknown_device", "message": str(exc), "device": exc.device}
    elif isinstance(exc, ValidationException):
        # A query parameter Litestar checked (after, limit): refused input like any other.
        extra = getattr(exc, "extra", None)
        status = 422
        body = {"error": "invalid_request", "message": f"{exc.detail}: {extra}" if extra else exc.detail}
    elif isinstance(exc, HTTPException) and exc.status_code == 413:
        limit = request.route_handler.resolve_request_max_body_size()
        status, body = (
            413,
            {
                "error": "body_too_large",
                "message": f"expected a request body of at most {limit} bytes, found more; nothing was stored",
                "stored": False,
            },
        )
    elif isinstance(exc, HTTPException):
        status = exc.status_code
        body = {"error": _HTTP_ERRORS.get(status, "http_error"), "message": exc.detail}
        headers.update(exc.headers or {})
    elif isinstance(exc, TokenError):
        SERVICE_LOG.error("%s", exc)
        status, body = 500, {"error": "token_file", "message": "the service cannot read its token file"}
    else:
        SERVICE_LOG.exception("unhandled error", exc_info=exc)
        status, body = 500, {"error": "internal", "message": f"internal error ({type(exc).__name__})"}
    return Response(body, status_code=status, headers=headers)


# --- the access log ---------------------------------------------------------------------


class AccessLoggingApp(Litestar):
    """The service's Litestar app, which writes one access log line per request."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        started = time.perf_counter()
        note: dict[str, Any] = {"role": None, "status": None}
        scope.setdefault("state", {})["access"] = note

        async def noting_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                note["status"] = message["status"]
            await send(message)

        try:
            await super().__call__(scope, receive, noting_send)
        finally:
            ACCESS_LOG.info(
                json.dumps(
                    {
                        "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                        "method": scope.get("method"),
                        "route": scope.get("path_template"),
                        "path": scope.get("path"),
                        "status": note["status"],
                        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                        "role": note["role"],
                    }
                )
            )

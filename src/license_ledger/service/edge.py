"""The HTTP edge of the service: parsing, the trust rules, redaction, errors as statuses, the access log.

Parsing turns bodies and query strings into what the library takes, and
refuses the rest as :class:`~license_ledger.errors.InputRefused` (422),
naming the field. :func:`check_trust` applies the rules that depend on who
asks (who may give an event its time, who may send a code's fingerprint) and
:func:`shown` the one that depends on who reads (a device sees no other
device). :func:`error_response` is the one place where an error becomes an
HTTP status. :class:`AccessLoggingApp` writes one JSON line per request:
route, status, duration, role; never a token, a body or a code. It also
reads the rest of an oversized body before the 413 goes out, so that a client
that sends its whole body before reading the answer gets that answer.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import anyio
import msgspec
from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import Receive, Scope, Send

from ..engine.events import EVENT_TYPES
from ..engine.moments import format_time
from ..engine.moments import moment as checked_moment
from ..errors import InputRefused, LedgerError, UnknownDevice
from .tokens import CHOOSES_TIME, SEES_EVERY_DEVICE, SENDS_FINGERPRINTS, Forbidden, Principal, TokenError

__all__ = [
    "ACCESS_LOG",
    "SERVICE_LOG",
    "LineHandler",
    "DRAIN_AT_LEAST",
    "DRAIN_FACTOR",
    "MAX_WHOLE_NUMBER",
    "AccessLoggingApp",
    "Busy",
    "Unauthenticated",
    "batch",
    "check_trust",
    "error_response",
    "fields",
    "json_body",
    "moment",
    "shown",
    "shown_detail",
    "whole_number",
]

ACCESS_LOG = logging.getLogger("license_ledger.access")
SERVICE_LOG = logging.getLogger("license_ledger.service")


#: The largest whole number a query takes (SQLite's integers are 64-bit).
MAX_WHOLE_NUMBER = 2**63 - 1

_EVENT_NAMES = frozenset(t.__name__ for t in EVENT_TYPES)
_T = TypeVar("_T")


class Unauthenticated(LedgerError):
    """No token, a malformed Authorization header, or a token the service does not know."""


class Busy(LedgerError):
    """The request waits for nothing: one like it is running; ask again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# --- parsing -------------------------------------------------------------------


def json_body(body: bytes, expected: str) -> Any:
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise InputRefused(expected, f"malformed JSON ({exc})") from None
    except UnicodeDecodeError as exc:
        raise InputRefused(expected, f"a body that is not UTF-8 (byte {exc.start})") from None
    except RecursionError:
        raise InputRefused(expected, "JSON nested too deeply") from None


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


def fields(body: bytes, allowed: tuple[str, ...], *, stamped: bool = False) -> dict[str, Any]:
    """A small optional JSON object with only ``allowed`` fields.

    ``stamped``: the body is an event the service's clock stamps (a
    button), and an ``at`` in it is refused saying so.
    """
    names = ", ".join(f"`{name}`" for name in allowed)
    if not body.strip():
        return {}
    data = json_body(body, f"a JSON object with {names}")
    if not isinstance(data, dict):
        raise InputRefused(f"a JSON object with {names}", f"a JSON {type(data).__name__}")
    for key in data:
        if key == "at" and stamped:
            raise InputRefused(
                "no `at`: the service's clock stamps the events of the buttons", "an `at`", field="$.at"
            )
        if key not in allowed:
            raise InputRefused(f"only the fields {names}", f"the unknown field `{key}`", field=f"$.{key}")
    return data


def whole_number(text: str | None, field: str, *, default: int, least: int) -> int:
    """A query's whole number, in ASCII digits, from ``least`` to :data:`MAX_WHOLE_NUMBER`."""
    if text is None:
        return default
    digits = text.isascii() and text.isdigit() and len(text) <= len(str(MAX_WHOLE_NUMBER))
    if not digits or not least <= int(text) <= MAX_WHOLE_NUMBER:
        shown = repr(text) if len(text) <= 40 else repr(text[:37]) + "..."
        raise InputRefused(f"a whole number from {least} to {MAX_WHOLE_NUMBER}", shown, field=field)
    return int(text)


def moment(text: str | None, field: str) -> datetime | None:
    return checked_moment(text, field=field)


def not_after(value: datetime, now: datetime, skew: float, field: str) -> None:
    """Refuse a moment further ahead of the service's clock than ``skew`` seconds."""
    latest = now + timedelta(seconds=skew)
    if value > latest:
        raise InputRefused(
            f"a time no later than {format_time(latest)} (the service's clock plus "
            f"--max-clock-skew {skew:g} s)",
            format_time(value),
            field=field,
        )


# --- trust: what depends on who asks --------------------------------------------


def check_trust(principal: Principal, items: list[Any], now: datetime, skew: float) -> None:
    """Refuse (422) a batch that claims more than its token is trusted with; nothing is stored.

    A device's events take the service's clock: no ``at``. For the other
    roles an ``at`` may lie in the past (a backfill; the library refuses
    one before the last event) but no more than ``skew`` seconds ahead of
    ``now``. Every time is checked by the one parser (``moment``). Only
    the roles in ``SENDS_FINGERPRINTS`` may send a code as its stored
    fingerprint. Runs after the rights are checked, before the library.
    """
    chooses_time = principal.role in CHOOSES_TIME
    fingerprints = principal.role in SENDS_FINGERPRINTS
    for line, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            continue  # the library refuses it, naming the line
        kind = item.get("type")
        where: dict[str, Any] = {
            "line": line,
            "event_type": kind if isinstance(kind, str) and kind in _EVENT_NAMES else None,
        }
        if item.get("at") is not None and not chooses_time:
            raise InputRefused(
                "no `at`: the events of a device token take the service's clock",
                "an `at`",
                field="$.at",
                **where,
            )
        for name in ("at", "purchased_at"):
            value = item.get(name)
            if not isinstance(value, str):
                continue  # absent, or not text: the library decides
            try:
                parsed = checked_moment(value, field=f"$.{name}")
                if name == "at" and parsed is not None:
                    not_after(parsed, now, skew, "$.at")
            except InputRefused as refused:
                raise InputRefused(refused.expected, refused.found, field=refused.field, **where) from None
        if isinstance(item.get("code"), dict) and not fingerprints:
            raise InputRefused(
                "a raw activation code (a string): only the admin role may send a stored fingerprint",
                "a code fingerprint (an object)",
                field="$.code",
                **where,
            )


# --- redaction: what depends on who reads -----------------------------------------


def _redacted(detail: dict[str, Any], device: str | None) -> dict[str, Any]:
    """A result's detail without the names of devices other than ``device``."""
    shown: dict[str, Any] = {}
    for key, value in detail.items():
        if key == "held_by" and isinstance(value, list):
            shown["seats_held"] = len(value)  # with max_devices beside it: a count, no names
        elif key == "blocked_devices" and isinstance(value, list):
            if device in value:
                shown[key] = [device]
        else:
            shown[key] = value
    return shown


def shown_detail(principal: Principal, detail: dict[str, Any] | None) -> dict[str, Any] | None:
    """What ``principal`` may read of one result's detail (see :func:`shown`)."""
    if detail is None or principal.role in SEES_EVERY_DEVICE:
        return detail
    return _redacted(detail, principal.device)


def shown(principal: Principal, value: _T, own: frozenset[int] = frozenset()) -> _T:
    """What ``principal`` may read of a result, a trace entry, or a list of them.

    Every answer that carries a ``detail`` or an ``evidence`` passes here. A
    role outside ``SEES_EVERY_DEVICE`` (a device) never reads the names of
    other devices: seat holders become ``seats_held`` (a count), the devices
    a CodeBlocked blocked shrink to its own device (or are left out). Nor
    does it read the seqs of events outside its own trace (``own``): the
    evidence keeps only those (a seat holder's activation, another device's
    update, a block that did not reach it are left out).
    """
    if principal.role in SEES_EVERY_DEVICE:
        return value
    if isinstance(value, list):
        return [shown(principal, item, own) for item in value]  # type: ignore[return-value]
    if not isinstance(value, msgspec.Struct):
        return value
    changes: dict[str, Any] = {}
    detail = getattr(value, "detail", None)
    if isinstance(detail, dict):
        changes["detail"] = _redacted(detail, principal.device)
    evidence = getattr(value, "evidence", None)
    if evidence:
        changes["evidence"] = tuple(seq for seq in evidence if seq in own)
    return msgspec.structs.replace(value, **changes) if changes else value


# --- errors: the one place they become HTTP statuses -----------------------------

_HTTP_ERRORS = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}

#: Every ``error`` code an answer may carry (the OpenAPI document lists them).
ERROR_CODES = (
    "input_refused",
    "invalid_request",
    "unauthenticated",
    "forbidden",
    "unknown_device",
    "not_found",
    "method_not_allowed",
    "body_too_large",
    "busy",
    "http_error",
    "token_file",
    "internal",
)


def error_response(request: Request[Any, Any, State], exc: Exception) -> Response[Any]:
    """The one place where an error becomes a status: every body has ``error``, ``message``, ``stored``."""
    response = _error_response(request, exc)
    content = response.content
    if isinstance(content, dict):
        content.setdefault("stored", False)
    return response


def _error_response(request: Request[Any, Any, State], exc: Exception) -> Response[Any]:
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
    elif isinstance(exc, Busy):
        status, body = 429, {"error": "busy", "message": str(exc)}
        headers["Retry-After"] = str(exc.retry_after)
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

_access_line = msgspec.json.Encoder().encode


class LineHandler(logging.StreamHandler):
    """A stream handler that writes a log line as it is, one write per line (the service's own)."""

    def write_line(self, line: str) -> None:
        with self.lock:  # type: ignore[union-attr]
            self.stream.write(line + "\n")
            self.flush()


def _write_access_line(line: str) -> None:
    """Write one access log line: straight to the service's own handler, else through logging."""
    handlers = ACCESS_LOG.handlers
    if len(handlers) == 1 and type(handlers[0]) is LineHandler and not ACCESS_LOG.filters:
        handlers[0].write_line(line)
    else:
        # A record made here rather than by info(): no walk up the stack for the caller.
        ACCESS_LOG.handle(logging.LogRecord(ACCESS_LOG.name, logging.INFO, __file__, 0, line, None, None))


_second: list[Any] = [None, ""]


def _now_text() -> str:
    """The time in UTC to the millisecond, as RFC 3339 with ``Z`` (the seconds made once a second)."""
    now = time.time()
    whole = int(now)
    if _second[0] != whole:
        _second[:] = [whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")]
    return f"{_second[1]}.{int((now - whole) * 1000):03d}Z"


#: How much of an oversized body is read (and dropped) before the 413 goes out, at most:
#: this multiple of the largest body accepted, and never less than ``DRAIN_AT_LEAST``
#: bytes; and for how long.
DRAIN_FACTOR = 16
DRAIN_AT_LEAST = 16 * 1024 * 1024
DRAIN_SECONDS = 10.0


class AccessLoggingApp(Litestar):
    """The service's Litestar app: one access log line per request, and a readable 413.

    A client that sends its whole body before it reads the answer (Python's
    ``urllib``, many scripts) would see the connection reset if the 413 went
    out while most of its body was still unread. So before a 413 is sent,
    the rest of the body is read and dropped, up to ``DRAIN_FACTOR`` times
    the largest body accepted (``DRAIN_AT_LEAST`` bytes at least) and for
    ``DRAIN_SECONDS`` at most; a body larger still is cut off (that client
    then sees the reset).
    """

    def __init__(self, *args: Any, drain_limit: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.drain_limit = drain_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        started = time.perf_counter()
        note: dict[str, Any] = {"role": None, "status": None}
        scope.setdefault("state", {})["access"] = note
        body = {"done": False}

        async def noting_receive() -> Any:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body["done"] = True
            return message

        logged = False

        def log() -> None:
            nonlocal logged
            logged = True
            if ACCESS_LOG.isEnabledFor(logging.INFO):
                line = _access_line(
                    {
                        "ts": _now_text(),
                        "method": scope.get("method"),
                        "route": scope.get("path_template"),
                        "path": scope.get("path"),
                        "status": note["status"],
                        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                        "role": note["role"],
                    }
                ).decode()
                _write_access_line(line)

        async def noting_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                note["status"] = message["status"]
                if message["status"] == 413 and not body["done"]:
                    await self._drain(noting_receive, body)
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                log()  # before the client can read the end of the answer
            await send(message)

        try:
            await super().__call__(scope, noting_receive, noting_send)
        finally:
            if not logged:
                log()

    async def _drain(self, receive: Receive, body: dict[str, bool]) -> None:
        """Read and drop the rest of a request body, within the bounds."""
        dropped = 0
        with anyio.move_on_after(DRAIN_SECONDS):
            while not body["done"] and dropped <= self.drain_limit:
                message: Any = await receive()
                dropped += len(message.get("body", b""))

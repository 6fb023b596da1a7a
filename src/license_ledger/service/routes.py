"""The routes of the service: each parses, authorizes, calls the library, and formats.

Every license rule stays in the library; who may do what is :mod:`.tokens`;
errors become statuses in one place, :func:`.edge.error_response`.
"""

from datetime import datetime
from typing import Any, TypeVar, cast

import msgspec
from litestar import Request, Response, delete, get, post, route
from litestar.datastructures import State
from litestar.enums import HttpMethod

from ..engine.events import EVENT_TYPES
from ..engine.moments import parse_moment, utc_now
from ..engine.views import Appended, DeviceStatus, TraceEntry
from ..errors import InputRefused, UnknownDevice
from ..forensics import decode_evidence
from ..ledger import Ledger
from ..store.audit import VerifyReport
from .edge import (
    batch,
    check_trust,
    fields,
    moment,
    not_after,
    shown,
    whole_number,
)
from .openapi import DEFAULT_FEED, FEED_LIMIT
from .runtime import _Service
from .tokens import (
    APPEND_ANY,
    READ_EVENTS,
    READ_STATUS,
    READ_TRACE,
    SEES_EVERY_DEVICE,
    TICK,
    VERIFY,
    Forbidden,
    Principal,
    append_right,
    holds,
    require,
)

__all__ = ["ROUTES", "FeedEvent"]

_EVENT_NAMES = frozenset(t.__name__ for t in EVENT_TYPES)
_T = TypeVar("_T")


class FeedEvent(msgspec.Struct, frozen=True):
    """One stored event as the feed shows it: where, what, its result and its payload."""

    seq: int
    type: str
    at: datetime
    device: str | None
    result: str
    reason: str | None
    detail: dict[str, Any] | None
    #: The hash chain value after this event (``verify`` recomputes it).
    hash: str
    #: The event as the log keeps it: codes as fingerprints, never raw.
    payload: dict[str, Any]
    #: The seqs of the earlier events the result rests on, ascending.
    evidence: tuple[int, ...] = ()


def _service(request: Request[Any, Any, State]) -> _Service:
    return cast(_Service, request.app.state.service)


def _authenticate(request: Request[Any, Any, State]) -> Principal:
    """Who the request acts as (401 unless its bearer token is known); noted for the access log."""
    service = _service(request)
    principal = service.authenticate(_authorization(request.scope["headers"]))
    note = request.scope.get("state", {}).get("access")
    if isinstance(note, dict):
        note["role"] = principal.role if service.tokens is not None else "admin (no auth)"
    return principal


def _authorization(headers: Any) -> str | None:
    """The Authorization header, read from the raw ASGI headers (no header mapping built per request)."""
    for name, value in headers:
        if name.lower() == b"authorization":
            return cast(str, value.decode("latin-1"))
    return None


# --- parsing and authorizing -----------------------------------------------------


def _device(request: Request[Any, Any, State]) -> str:
    return cast(str, request.path_params["device"])


def _authorize_batch(principal: Principal, items: list[Any]) -> None:
    """Refuse the whole batch if any event is one this principal may not append."""
    for line, item in enumerate(items, start=1):
        kind = item.get("type") if isinstance(item, dict) else None
        if not isinstance(kind, str) or kind not in _EVENT_NAMES:
            continue  # the library refuses it, naming the line
        device = item.get("device")
        if not isinstance(device, str):
            device = principal.device  # a missing or mistyped device is the library's to refuse
        require(principal, append_right(kind), device, where=f"event {line}")
    # A batch of nothing recognisable: the library would refuse it, but only to those who may append.
    if not holds(principal.role, APPEND_ANY):
        raise Forbidden(principal, APPEND_ANY)


async def _own_seqs(request: Request[Any, Any, State], principal: Principal) -> frozenset[int]:
    """The seqs of a device token's own trace: the only evidence it may read (none for other roles)."""
    if principal.role in SEES_EVERY_DEVICE or principal.device is None:
        return frozenset()
    service = _service(request)
    try:
        entries = await service.read(Ledger.trace, principal.device)
    except UnknownDevice:
        return frozenset()
    return frozenset(entry.seq for entry in entries)


# --- routes --------------------------------------------------------------------


@get("/health", operation_id="getHealth", security=[], tags=["service"], summary="Is the service up")
async def health() -> dict[str, str]:
    """Answers `{"status": "ok"}` while the service runs. No token needed: for load balancers and start-up scripts."""
    return {"status": "ok"}


@post(
    "/events",
    operation_id="appendEvents",
    status_code=200,
    tags=["events"],
    summary="Append one event or a batch, all or nothing",
)
async def append_events(request: Request[Any, Any, State]) -> list[Appended]:
    """One event (an object) or a batch (an array), as the lines of `license-ledger append`.

    Codes raw (only the admin role may send a stored fingerprint); `at`
    optional: the service's clock fills it in. A device token sends no `at`;
    the other roles may backfill the past but not stamp more than
    --max-clock-skew ahead of the service's clock. `id` is an optional
    idempotency key. The answer is one result per event, in order; one
    refused event refuses the whole batch and nothing is stored. A device
    token reads no other device's name in the results.
    """
    principal = _authenticate(request)
    service = _service(request)
    items = batch(await request.body(), service.max_batch)
    _authorize_batch(principal, items)
    check_trust(principal, items, utc_now(), service.max_clock_skew)
    appended = await service.append(items)
    return shown(principal, appended, await _own_seqs(request, principal))


async def _button(request: Request[Any, Any, State], kind: str, allowed: tuple[str, ...]) -> Appended:
    principal = _authenticate(request)
    device = _device(request)
    require(principal, append_right(kind), device)
    service = _service(request)
    given = fields(await request.body(), allowed, stamped=True)
    event = {"type": kind, "device": device, **given}
    check_trust(principal, [event], utc_now(), service.max_clock_skew)
    [appended] = await service.append([event])
    return shown(principal, appended, await _own_seqs(request, principal))


@post(
    "/devices/{device:str}/codes",
    operation_id="enterCode",
    status_code=200,
    tags=["devices"],
    summary="Enter activation code → Save",
)
async def enter_code(request: Request[Any, Any, State]) -> Appended:
    """Appends a `CodeEntered` for the device, stamped by the service's clock, and answers with its result."""
    return await _button(request, "CodeEntered", ("code", "id"))


@post(
    "/devices/{device:str}/try-again",
    operation_id="clickTryAgain",
    status_code=200,
    tags=["devices"],
    summary="Click Try again",
)
async def try_again(request: Request[Any, Any, State]) -> Appended:
    """Appends a `TryAgainClicked` for the device; a click that does nothing is stored as `ignored`."""
    return await _button(request, "TryAgainClicked", ("id",))


@post(
    "/devices/{device:str}/activate-now",
    operation_id="clickActivateNow",
    status_code=200,
    tags=["devices"],
    summary="Click Activate now",
)
async def activate_now(request: Request[Any, Any, State]) -> Appended:
    """Appends an `ActivateNowClicked` for the device; a click that does nothing is stored as `ignored`."""
    return await _button(request, "ActivateNowClicked", ("id",))


@delete(
    "/devices/{device:str}/license",
    operation_id="removeLicense",
    status_code=200,
    tags=["devices"],
    summary="Remove the license",
)
async def remove_license(request: Request[Any, Any, State]) -> Appended:
    """Appends a `LicenseRemoved` for the device: a pending backup takes over, if it can."""
    return await _button(request, "LicenseRemoved", ("id",))


@get(
    "/devices/{device:str}/status",
    operation_id="getDeviceStatus",
    tags=["devices"],
    summary="The device's status, now or as of a time",
)
async def device_status(request: Request[Any, Any, State]) -> DeviceStatus:
    """The state, the license and its backup (codes masked) and the buttons offered, as of `as_of` (default: now)."""
    principal = _authenticate(request)
    device = _device(request)
    require(principal, READ_STATUS, device)
    # Most reads ask for now: no query string to parse.
    as_of = moment(request.query_params.get("as_of"), "as_of") if request.scope["query_string"] else None
    service = _service(request)
    return await service.read(Ledger.status, device, as_of, small=True)


@get(
    "/devices/{device:str}/trace",
    operation_id="getDeviceTrace",
    tags=["devices"],
    summary="Every event that concerns the device, in order",
)
async def device_trace(request: Request[Any, Any, State]) -> list[TraceEntry]:
    """Each event with its result, reason, detail and the device's state after it. A device token reads no other device's name."""
    principal = _authenticate(request)
    device = _device(request)
    require(principal, READ_TRACE, device)
    service = _service(request)
    entries = await service.read(Ledger.trace, device)
    return shown(principal, entries, frozenset(entry.seq for entry in entries))


@get(
    "/events",
    operation_id="getEvents",
    tags=["events"],
    summary="The log in order, after a seq (a feed for followers)",
)
async def event_feed(request: Request[Any, Any, State]) -> list[FeedEvent]:
    """The events with seq greater than `after`, at most `limit`, with results, chain hashes and payloads (codes as fingerprints)."""
    principal = _authenticate(request)
    require(principal, READ_EVENTS)
    after = whole_number(request.query_params.get("after"), "after", default=0, least=0)
    limit = whole_number(request.query_params.get("limit"), "limit", default=DEFAULT_FEED, least=1)
    service = _service(request)
    rows = await service.read(Ledger.events, after, min(limit, FEED_LIMIT))
    return [
        FeedEvent(
            seq=row.seq,
            type=row.type,
            at=parse_moment(row.at, field="at"),
            device=row.device,
            result=row.result,
            reason=row.reason,
            detail=None if row.detail is None else msgspec.json.decode(row.detail),
            hash=row.hash,
            payload=msgspec.json.decode(row.payload),
            evidence=decode_evidence(row.evidence),
        )
        for row in rows
    ]


@get(
    "/verify",
    operation_id="verifyLog",
    tags=["audit"],
    summary="Check that nothing in the store was altered, removed or reordered",
)
async def verify(request: Request[Any, Any, State]) -> VerifyReport:
    """Replays the whole log on a connection of its own while other requests go on; 200 either way (read `ok`).

    One verify at a time per process: a second one meanwhile is answered 429 with `Retry-After`.
    """
    principal = _authenticate(request)
    require(principal, VERIFY)
    return await _service(request).verify()


@post(
    "/tick",
    operation_id="tick",
    status_code=200,
    tags=["events"],
    summary="Append the due LicenseExpired events now",
)
async def tick(request: Request[Any, Any, State]) -> list[Appended]:
    """A `LicenseExpired` for every active license due by now, or by `now` (not before the log's last event, at most --max-clock-skew ahead)."""
    principal = _authenticate(request)
    require(principal, TICK)
    now = fields(await request.body(), ("now",)).get("now")
    if now is not None and not isinstance(now, str):
        raise InputRefused("an RFC 3339 timestamp such as 2026-01-31T12:00:00Z", repr(now), field="$.now")
    service = _service(request)
    when = moment(now, "$.now")
    if when is not None:
        not_after(when, utc_now(), service.max_clock_skew, "$.now")
    return await service.call(service.ledger.tick, when)


@route("/events", http_method=[HttpMethod.OPTIONS], include_in_schema=False, status_code=204)
async def events_options(request: Request[Any, Any, State]) -> Response[None]:
    """``OPTIONS /events``: both of its methods (Litestar's own answer names only the first handler's)."""
    methods = {"OPTIONS"}
    for handler in (append_events, event_feed):
        methods.update(handler.http_methods)
    return Response(None, status_code=204, headers={"Allow": ", ".join(sorted(methods))})


# --- the app -----------------------------------------------------------------------


#: Every route of the service, in the order the OpenAPI document lists them.
ROUTES = [
    events_options,
    health,
    append_events,
    enter_code,
    try_again,
    activate_now,
    remove_license,
    device_status,
    device_trace,
    event_feed,
    verify,
    tick,
]

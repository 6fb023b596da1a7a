"""The license service: the library over HTTP, with roles and bearer tokens.

Handlers only parse and format. Every license rule stays in the library
(:class:`~license_ledger.ledger.Ledger`); who may do what is the table in
:mod:`license_ledger.service.tokens`; parsing, the error statuses and the access log
are in ``edge.py``, the OpenAPI additions in ``openapi.py``. See
``docs/service.md``.

One process holds one :class:`Ledger`; its calls run in a worker thread, one
at a time (an asyncio lock), so the event loop never waits on SQLite. Several
processes may serve one file: the store serialises writers and each catches
up with the others inside its write transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import anyio.to_thread
import msgspec
from litestar import Litestar, Request, Response, delete, get, post, route
from litestar.datastructures import State
from litestar.enums import HttpMethod
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from .._version import __version__
from ..engine.events import EVENT_TYPES
from ..engine.moments import parse_moment, utc_now
from ..engine.views import Appended, DeviceStatus, TraceEntry
from ..errors import InputRefused, LedgerError
from ..ledger import Ledger
from ..store.audit import VerifyReport
from .edge import (
    ACCESS_LOG,
    DRAIN_AT_LEAST,
    DRAIN_FACTOR,
    SERVICE_LOG,
    AccessLoggingApp,
    Busy,
    Unauthenticated,
    batch,
    check_trust,
    error_response,
    fields,
    moment,
    not_after,
    shown,
    whole_number,
)
from .openapi import DEFAULT_FEED, FEED_LIMIT, document_bodies
from .tokens import (
    APPEND_ANY,
    READ_EVENTS,
    READ_STATUS,
    READ_TRACE,
    TICK,
    VERIFY,
    Forbidden,
    Principal,
    TokenError,
    TokenFile,
    append_right,
    holds,
    require,
)

__all__ = [
    "DEFAULT_MAX_BATCH",
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_CLOCK_SKEW",
    "FEED_LIMIT",
    "FeedEvent",
    "create_app",
    "serve",
]

DEFAULT_MAX_BODY = 1_048_576
DEFAULT_MAX_BATCH = 1000
#: How far ahead of the service's clock (seconds) an ``at`` or a tick's ``now`` may be.
DEFAULT_MAX_CLOCK_SKEW = 300.0
#: What a second ``GET /verify`` while one runs is told to wait (seconds).
VERIFY_RETRY_AFTER = 1

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


class _Service:
    """What one app holds: the ledger, its lock, the tokens and the limits."""

    def __init__(
        self,
        ledger_path: Path,
        tokens: TokenFile | None,
        tick_every: float,
        max_batch: int,
        max_clock_skew: float,
    ) -> None:
        self.ledger_path = ledger_path
        self.tokens = tokens
        self.tick_every = tick_every
        self.max_batch = max_batch
        self.max_clock_skew = max_clock_skew
        self._ledger: Ledger | None = None
        self._lock: asyncio.Lock | None = None
        self._verifying = False

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            raise RuntimeError("the service is not started (the ledger opens at startup)")
        return self._ledger

    async def call(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run a ledger call in a worker thread, one at a time in this process."""
        if self._lock is None:
            raise RuntimeError("the service is not started (the ledger opens at startup)")
        async with self._lock:
            # anyio waits for the thread even when the request is cancelled (a client
            # hangs up), so the lock is never released while SQLite is still busy;
            # asyncio.to_thread would return at once and let the next call in.
            return await anyio.to_thread.run_sync(partial(fn, *args))

    async def verify(self) -> VerifyReport:
        """Replay the whole log on a connection of its own, outside the lock; one at a time.

        A full replay takes a while on a big log: it must not hold up the
        appends and reads, which go on meanwhile. A second verify while one
        runs is refused (429) rather than queued.
        """
        if self._verifying:
            raise Busy(
                "expected one verify at a time, found one already running; ask again later",
                VERIFY_RETRY_AFTER,
            )
        self._verifying = True
        try:
            return await anyio.to_thread.run_sync(_verify_file, self.ledger_path)
        finally:
            self._verifying = False

    def authenticate(self, header: str | None) -> Principal:
        if self.tokens is None:
            return Principal("admin")
        scheme, _, token = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            found = "no Authorization header" if not header else "another kind of Authorization header"
            raise Unauthenticated(f"expected an `Authorization: Bearer <token>` header, found {found}")
        principal = self.tokens.lookup(token.strip())
        if principal is None:
            raise Unauthenticated("expected a token this service knows, found an unknown token")
        return principal

    async def open(self) -> None:
        self._lock = asyncio.Lock()  # made in the loop that serves
        self._ledger = await anyio.to_thread.run_sync(partial(Ledger.open, self.ledger_path, create=True))

    async def close(self) -> None:
        if self._ledger is not None and self._lock is not None:
            async with self._lock:
                await anyio.to_thread.run_sync(self._ledger.close)
            self._ledger = None

    async def tick_forever(self) -> None:
        """Append the due expiries every ``tick_every`` seconds, until cancelled."""
        while True:
            await asyncio.sleep(self.tick_every)
            try:
                appended = await self.call(self.ledger.tick)
            except LedgerError as exc:
                SERVICE_LOG.error("tick refused: %s", exc)
            except Exception:
                SERVICE_LOG.exception("tick failed")
            else:
                if appended:
                    SERVICE_LOG.info("tick appended %d LicenseExpired event(s)", len(appended))


def _verify_file(path: Path) -> VerifyReport:
    """Verify the ledger file on a read-only connection of its own (one read transaction inside)."""
    with Ledger.open(path, read_only=True) as ledger:
        return ledger.verify()


def _service(request: Request[Any, Any, State]) -> _Service:
    return cast(_Service, request.app.state.service)


def _authenticate(request: Request[Any, Any, State]) -> Principal:
    """Who the request acts as (401 unless its bearer token is known); noted for the access log."""
    service = _service(request)
    principal = service.authenticate(request.headers.get("authorization"))
    note = request.scope.get("state", {}).get("access")
    if isinstance(note, dict):
        note["role"] = principal.role if service.tokens is not None else "admin (no auth)"
    return principal


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
    return shown(principal, await service.call(service.ledger.append, items))


async def _button(request: Request[Any, Any, State], kind: str, allowed: tuple[str, ...]) -> Appended:
    principal = _authenticate(request)
    device = _device(request)
    require(principal, append_right(kind), device)
    service = _service(request)
    given = fields(await request.body(), allowed, stamped=True)
    event = {"type": kind, "device": device, **given}
    check_trust(principal, [event], utc_now(), service.max_clock_skew)
    [appended] = await service.call(service.ledger.append, [event])
    return shown(principal, appended)


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
    as_of = moment(request.query_params.get("as_of"), "as_of")
    service = _service(request)
    return await service.call(service.ledger.status, device, as_of)


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
    return shown(principal, await service.call(service.ledger.trace, device))


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
    rows = await service.call(service.ledger.events, after, min(limit, FEED_LIMIT))
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


def create_app(
    ledger_path: str | Path,
    tokens_path: str | Path | None,
    tick_every: float = 60.0,
    max_body: int = DEFAULT_MAX_BODY,
    max_batch: int = DEFAULT_MAX_BATCH,
    *,
    insecure_no_auth: bool = False,
    max_clock_skew: float = DEFAULT_MAX_CLOCK_SKEW,
) -> Litestar:
    """The service as an ASGI app over the ledger file at ``ledger_path``.

    ``tokens_path`` names the token file (see :mod:`license_ledger.service.tokens`);
    without one the app refuses to be built unless ``insecure_no_auth`` says
    that every caller may do everything. ``tick_every`` seconds (0: never)
    between background ticks; ``max_body`` bytes per request body;
    ``max_batch`` events per ``POST /events``; ``max_clock_skew`` seconds
    that an ``at`` (or a tick's ``now``) may lie ahead of the service's clock.
    """
    if tokens_path is None and not insecure_no_auth:
        raise TokenError(
            "refusing to serve without a token file: pass --tokens FILE "
            "(create one with `license-ledger token new`), or --insecure-no-auth to let everyone do everything"
        )
    for name, value, least in (
        ("tick_every", tick_every, 0),
        ("max_body", max_body, 1),
        ("max_batch", max_batch, 1),
        ("max_clock_skew", max_clock_skew, 0),
    ):
        if value < least:
            raise ValueError(f"{name}: expected a number >= {least}, found {value!r}")
    tokens = TokenFile(tokens_path) if tokens_path is not None else None
    service = _Service(Path(ledger_path), tokens, tick_every, max_batch, max_clock_skew)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await service.open()
        ticker = asyncio.create_task(service.tick_forever()) if tick_every > 0 else None
        try:
            yield
        finally:
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            await service.close()

    app = AccessLoggingApp(
        route_handlers=[
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
        ],
        exception_handlers={Exception: error_response},
        lifespan=[lifespan],
        state=State({"service": service}),
        request_max_body_size=max_body,
        drain_limit=max(DRAIN_FACTOR * max_body, DRAIN_AT_LEAST),
        logging_config=None,
        openapi_config=OpenAPIConfig(
            title="license-ledger",
            version=__version__,
            description="An append-only, tamper-evident log of license events, over HTTP. See docs/service.md.",
            path="/schema",
            components=Components(security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}),
            security=[{"bearer": []}],
            use_handler_docstrings=True,
        ),
    )
    document_bodies(app)
    return app


def serve(
    db: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    tokens: str | Path | None = None,
    tick_every: float = 60.0,
    *,
    insecure_no_auth: bool = False,
    max_body: int = DEFAULT_MAX_BODY,
    max_batch: int = DEFAULT_MAX_BATCH,
    max_clock_skew: float = DEFAULT_MAX_CLOCK_SKEW,
    log_level: str = "info",
) -> None:
    """Run the service with uvicorn until interrupted; access log lines go to standard error.

    Raises :class:`~license_ledger.service.tokens.TokenError` (no or unreadable token
    file) and the store's errors (not a ledger, newer schema) before
    listening, so that a command line can report them and exit 2.
    """
    import uvicorn

    app = create_app(
        db,
        tokens,
        tick_every,
        max_body,
        max_batch,
        insecure_no_auth=insecure_no_auth,
        max_clock_skew=max_clock_skew,
    )
    Ledger.open(db, create=True).close()  # fail now, not at the first request
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for logger in (ACCESS_LOG, SERVICE_LOG):
        logger.handlers = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
    if insecure_no_auth:
        SERVICE_LOG.warning(
            "serving WITHOUT authentication: every caller may do everything (--insecure-no-auth)"
        )
    uvicorn.run(app, host=host, port=port, access_log=False, log_level=log_level)

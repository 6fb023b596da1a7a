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
from litestar import Litestar, Request, delete, get, post
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from .._version import __version__
from ..engine.events import EVENT_TYPES
from ..engine.moments import parse_moment
from ..engine.views import Appended, DeviceStatus, TraceEntry
from ..errors import InputRefused, LedgerError
from ..ledger import Ledger
from ..store.audit import VerifyReport
from .edge import (
    ACCESS_LOG,
    SERVICE_LOG,
    AccessLoggingApp,
    Unauthenticated,
    batch,
    error_response,
    fields,
    moment,
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

__all__ = ["DEFAULT_MAX_BATCH", "DEFAULT_MAX_BODY", "FEED_LIMIT", "FeedEvent", "create_app", "serve"]

DEFAULT_MAX_BODY = 1_048_576
DEFAULT_MAX_BATCH = 1000

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
        self, ledger_path: str | Path, tokens: TokenFile | None, tick_every: float, max_batch: int
    ) -> None:
        self.ledger_path = ledger_path
        self.tokens = tokens
        self.tick_every = tick_every
        self.max_batch = max_batch
        self._ledger: Ledger | None = None
        self._lock: asyncio.Lock | None = None

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


@get("/health", security=[], tags=["service"], summary="Is the service up (no token needed)")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@post("/events", status_code=200, tags=["events"], summary="Append one event or a batch, all or nothing")
async def append_events(request: Request[Any, Any, State]) -> list[Appended]:
    principal = _authenticate(request)
    service = _service(request)
    items = batch(await request.body(), service.max_batch)
    _authorize_batch(principal, items)
    return await service.call(service.ledger.append, items)


async def _button(request: Request[Any, Any, State], kind: str, allowed: tuple[str, ...]) -> Appended:
    principal = _authenticate(request)
    device = _device(request)
    require(principal, append_right(kind), device)
    service = _service(request)
    given = fields(await request.body(), allowed)
    [appended] = await service.call(service.ledger.append, [{"type": kind, "device": device, **given}])
    return appended


@post(
    "/devices/{device:str}/codes", status_code=200, tags=["devices"], summary="Enter activation code → Save"
)
async def enter_code(request: Request[Any, Any, State]) -> Appended:
    return await _button(request, "CodeEntered", ("code", "id"))


@post("/devices/{device:str}/try-again", status_code=200, tags=["devices"], summary="Click Try again")
async def try_again(request: Request[Any, Any, State]) -> Appended:
    return await _button(request, "TryAgainClicked", ("id",))


@post("/devices/{device:str}/activate-now", status_code=200, tags=["devices"], summary="Click Activate now")
async def activate_now(request: Request[Any, Any, State]) -> Appended:
    return await _button(request, "ActivateNowClicked", ("id",))


@delete("/devices/{device:str}/license", status_code=200, tags=["devices"], summary="Remove the license")
async def remove_license(request: Request[Any, Any, State]) -> Appended:
    return await _button(request, "LicenseRemoved", ("id",))


@get("/devices/{device:str}/status", tags=["devices"], summary="The device's status, now or as of a time")
async def device_status(request: Request[Any, Any, State]) -> DeviceStatus:
    principal = _authenticate(request)
    device = _device(request)
    require(principal, READ_STATUS, device)
    as_of = moment(request.query_params.get("as_of"), "as_of")
    service = _service(request)
    return await service.call(service.ledger.status, device, as_of)


@get(
    "/devices/{device:str}/trace", tags=["devices"], summary="Every event that concerns the device, in order"
)
async def device_trace(request: Request[Any, Any, State]) -> list[TraceEntry]:
    principal = _authenticate(request)
    device = _device(request)
    require(principal, READ_TRACE, device)
    service = _service(request)
    return await service.call(service.ledger.trace, device)


@get("/events", tags=["events"], summary="The log in order, after a seq (a feed for followers)")
async def event_feed(request: Request[Any, Any, State]) -> list[FeedEvent]:
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


@get("/verify", tags=["audit"], summary="Check that nothing in the store was altered, removed or reordered")
async def verify(request: Request[Any, Any, State]) -> VerifyReport:
    principal = _authenticate(request)
    require(principal, VERIFY)
    service = _service(request)
    return await service.call(service.ledger.verify)


@post("/tick", status_code=200, tags=["events"], summary="Append the due LicenseExpired events now")
async def tick(request: Request[Any, Any, State]) -> list[Appended]:
    principal = _authenticate(request)
    require(principal, TICK)
    now = fields(await request.body(), ("now",)).get("now")
    if now is not None and not isinstance(now, str):
        raise InputRefused("an RFC 3339 timestamp such as 2026-01-31T12:00:00Z", repr(now), field="$.now")
    service = _service(request)
    return await service.call(service.ledger.tick, moment(now, "$.now"))


# --- the app -----------------------------------------------------------------------


def create_app(
    ledger_path: str | Path,
    tokens_path: str | Path | None,
    tick_every: float = 60.0,
    max_body: int = DEFAULT_MAX_BODY,
    max_batch: int = DEFAULT_MAX_BATCH,
    *,
    insecure_no_auth: bool = False,
) -> Litestar:
    """The service as an ASGI app over the ledger file at ``ledger_path``.

    ``tokens_path`` names the token file (see :mod:`license_ledger.service.tokens`);
    without one the app refuses to be built unless ``insecure_no_auth`` says
    that every caller may do everything. ``tick_every`` seconds (0: never)
    between background ticks; ``max_body`` bytes per request body;
    ``max_batch`` events per ``POST /events``.
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
    ):
        if value < least:
            raise ValueError(f"{name}: expected a number >= {least}, found {value!r}")
    tokens = TokenFile(tokens_path) if tokens_path is not None else None
    # Kept as given: a postgresql:// URL is no path (Path would fold its "//").
    service = _Service(ledger_path, tokens, tick_every, max_batch)

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
        logging_config=None,
        openapi_config=OpenAPIConfig(
            title="license-ledger",
            version=__version__,
            description="An append-only, tamper-evident log of license events, over HTTP. See docs/service.md.",
            path="/schema",
            components=Components(security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}),
            security=[{"bearer": []}],
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
    log_level: str = "info",
) -> None:
    """Run the service with uvicorn until interrupted; access log lines go to standard error.

    Raises :class:`~license_ledger.service.tokens.TokenError` (no or unreadable token
    file) and the store's errors (not a ledger, newer schema) before
    listening, so that a command line can report them and exit 2.
    """
    import uvicorn

    app = create_app(db, tokens, tick_every, max_body, max_batch, insecure_no_auth=insecure_no_auth)
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

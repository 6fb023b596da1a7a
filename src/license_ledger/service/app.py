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
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from .._version import __version__
from ..ledger import Ledger
from ..store.open import is_url, shown
from .docs_page import documentation_assets, render_plugins
from .edge import (
    DRAIN_AT_LEAST,
    DRAIN_FACTOR,
    SERVICE_LOG,
    AccessLoggingApp,
    error_response,
)
from .forensic_routes import FORENSIC_ROUTES
from .inspector import template_config, ui_router
from .openapi import document_bodies
from .routes import ROUTES
from .runtime import DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY, DEFAULT_MAX_CLOCK_SKEW, _Service
from .tokens import (
    TokenError,
    TokenFile,
)
from .workers import listening_socket, log_to_stderr, run_workers

__all__ = [
    "DEFAULT_MAX_BATCH",
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_CLOCK_SKEW",
    "create_app",
    "serve",
]


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
    # Kept as given: a postgresql:// URL is no path (Path would fold its "//").
    service = _Service(ledger_path, tokens, tick_every, max_batch, max_clock_skew)

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
        route_handlers=[*ROUTES, *FORENSIC_ROUTES, documentation_assets, ui_router("/ui")],
        exception_handlers={Exception: error_response},
        lifespan=[lifespan],
        state=State({"service": service}),
        request_max_body_size=max_body,
        drain_limit=max(DRAIN_FACTOR * max_body, DRAIN_AT_LEAST),
        logging_config=None,
        template_config=template_config(),
        openapi_config=OpenAPIConfig(
            title="license-ledger",
            version=__version__,
            description="An append-only, tamper-evident log of license events, over HTTP. See docs/service.md.",
            path="/schema",
            components=Components(security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}),
            security=[{"bearer": []}],
            use_handler_docstrings=True,
            render_plugins=render_plugins(),
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
    workers: int = 1,
) -> None:
    """Run the service with uvicorn until interrupted; access log lines go to standard error.

    ``workers``: how many processes serve (see ``service/workers.py``); each
    has its own ledger, and the background tick runs in the first one only.
    Raises :class:`~license_ledger.service.tokens.TokenError` (no or unreadable token
    file) and the store's errors (not a ledger, newer schema) before
    listening, so that a command line can report them and exit 2.
    """
    import uvicorn

    if workers < 1:
        raise ValueError(f"workers: expected a number >= 1, found {workers!r}")
    options: dict[str, Any] = {
        "ledger_path": str(db),
        "tokens_path": None if tokens is None else str(tokens),
        "tick_every": tick_every,
        "max_body": max_body,
        "max_batch": max_batch,
        "insecure_no_auth": insecure_no_auth,
        "max_clock_skew": max_clock_skew,
    }
    app = create_app(**options)
    with Ledger.open(db, create=True) as ledger:  # fail now, not at the first request
        events = ledger.backend.head()[0]
    log_to_stderr()
    if insecure_no_auth:
        SERVICE_LOG.warning(
            "serving WITHOUT authentication: every caller may do everything (--insecure-no-auth)"
        )
    SERVICE_LOG.info(
        "license-ledger %s: ledger %s (%s), tokens %s, listening on http://%s:%s with %s (API documentation at /schema)",
        __version__,
        shown(db) if is_url(db) else Path(db).resolve(),
        f"{events} event" if events == 1 else f"{events} events",
        "none (--insecure-no-auth)" if tokens is None else Path(tokens).resolve(),
        host,
        port,
        "1 worker" if workers == 1 else f"{workers} workers",
    )
    if workers == 1:
        uvicorn.run(app, host=host, port=port, access_log=False, log_level=log_level)
        return
    sock = listening_socket(host, port)
    try:
        run_workers(
            "license_ledger.service.app:create_app",
            options,
            sock,
            workers,
            first_only={"tick_every": tick_every},
            log_level=log_level,
        )
    finally:
        sock.close()

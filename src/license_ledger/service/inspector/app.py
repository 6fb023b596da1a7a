"""``license-ledger inspect``: the inspector's pages over a file opened read-only, on their own.

Loopback only, unless a token file is given: then every page asks for a
token, as the service's ``/ui/`` does.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path

from litestar import Litestar
from litestar.datastructures import State

from ...ledger import Ledger
from ...store.open import shown
from ..tokens import TokenError, TokenFile
from .pages import ui_router
from .source import ReadOnlySource
from .templating import template_config

__all__ = ["DEFAULT_PORT", "create_inspector_app", "inspect", "is_loopback"]

DEFAULT_PORT = 8765


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def create_inspector_app(db: str | Path, tokens: str | Path | None = None) -> Litestar:
    """The inspector as an ASGI app over ``db``, read-only (pages at ``/``)."""
    # Kept as given: a postgresql:// URL is no path (Path would fold its "//").
    source = ReadOnlySource(db, TokenFile(tokens) if tokens is not None else None)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await source.open()
        try:
            yield
        finally:
            await source.close()

    return Litestar(
        route_handlers=[ui_router("")],
        lifespan=[lifespan],
        state=State({"service": source}),
        template_config=template_config(),
        openapi_config=None,
        logging_config=None,
    )


def inspect(
    db: str | Path,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    tokens: str | Path | None = None,
    *,
    log_level: str = "warning",
) -> None:
    """Serve the inspector with uvicorn until interrupted; prints its address first.

    Raises :class:`~license_ledger.service.tokens.TokenError` for a
    non-loopback ``host`` without ``tokens``, and the store's errors (no
    such file, not a ledger, needs migrating) before listening.
    """
    import uvicorn

    if tokens is None and not is_loopback(host):
        raise TokenError(
            f"refusing to inspect on {host}, which is not this machine only, without a token file: "
            "pass --tokens FILE (create one with `license-ledger token new`), or keep the default 127.0.0.1"
        )
    app = create_inspector_app(db, tokens)
    Ledger.open(db, read_only=True).close()  # fail now, not at the first page
    address = f"[{host}]" if ":" in host else host
    print(f"Inspecting {shown(db)} (read-only) at http://{address}:{port}/  (Ctrl-C to stop)", flush=True)
    uvicorn.run(app, host=host, port=port, access_log=False, log_level=log_level)

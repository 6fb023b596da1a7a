"""Where a ledger lives, told by its location: the one place that picks a backend.

A ``postgresql://`` (or ``postgres://``) URL opens the PostgreSQL backend,
anything else is the path of an SQLite file. The CLI's ``--db``,
``LICENSE_LEDGER_DB``, ``Ledger.open`` and the service all come through
:func:`open_backend`.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import LedgerError
from .protocol import Backend, Mode

__all__ = ["is_url", "open_backend", "shown"]

_SCHEMES = ("postgresql://", "postgres://")


def is_url(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` names a database server rather than a file."""
    return isinstance(location, str) and location.startswith(_SCHEMES)


def shown(location: str | os.PathLike[str]) -> str:
    """The location as messages may print it: a URL loses its password."""
    if not is_url(location):
        return str(location)
    try:
        from .postgres import PostgresLocation
    except ImportError:
        return _without_password(str(location))
    try:
        return PostgresLocation(str(location)).shown
    except LedgerError:
        return _without_password(str(location))


def open_backend(
    location: str | os.PathLike[str], mode: Mode = "create", synchronous: str = "FULL"
) -> Backend:
    """The backend for ``location``: PostgreSQL for a URL, else an SQLite file."""
    if is_url(location):
        url = str(location)
        try:
            from .postgres import PostgresBackend
        except ImportError:
            raise LedgerError(
                f"{_without_password(url)}: the PostgreSQL backend needs psycopg; "
                "install it with `pip install 'license-ledger[postgres]'`"
            ) from None
        return PostgresBackend(url, mode=mode, synchronous=synchronous)
    from .sqlite import SQLiteBackend

    return SQLiteBackend(Path(location), mode=mode, synchronous=synchronous)


def _without_password(url: str) -> str:
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.partition("@")
    if not at:
        return url
    return f"{scheme}://{credentials.partition(':')[0]}@{host}"

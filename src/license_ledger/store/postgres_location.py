"""Where a PostgreSQL ledger is: a ``postgresql://`` URL taken apart, and how its messages read."""

from __future__ import annotations

import urllib.parse

from ..errors import LedgerError
from . import postgres_schema

__all__ = ["PostgresLocation", "first_line", "synchronous_commit"]


class PostgresLocation:
    """A ``postgresql://`` URL split into what libpq gets, the schema, and what messages show.

    ``shown`` is the URL without its password: messages never carry one.
    """

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        schemas = [value for key, value in query if key == "schema"]
        self.schema = schemas[-1] if schemas else postgres_schema.DEFAULT_SCHEMA
        self.host = parts.hostname or "localhost"
        try:
            self.port = parts.port or 5432
        except ValueError:
            self.port = 0
        netloc = parts.netloc.rpartition("@")
        user = netloc[0].partition(":")[0] if netloc[1] else ""
        shown_netloc = f"{user}@{netloc[2]}" if user else netloc[2]
        self.shown = urllib.parse.urlunsplit(parts._replace(netloc=shown_netloc))
        rest = urllib.parse.urlencode([(k, v) for k, v in query if k != "schema"])
        self.conninfo = urllib.parse.urlunsplit(parts._replace(query=rest))
        if self.port == 0:
            raise LedgerError(f"{self.shown}: the port is not a number from 1 to 65535")
        if not postgres_schema.valid_schema_name(self.schema):
            raise LedgerError(
                f"{self.shown}: expected a schema name of letters, digits and underscores "
                f"(at most 63, not starting with a digit), found {self.schema!r}"
            )

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"


def first_line(exc: Exception) -> str:
    """The server's primary message (PostgreSQL adds CONTEXT and DETAIL lines)."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = primary or str(exc) or type(exc).__name__
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def synchronous_commit(synchronous: str) -> str:
    value = synchronous.upper()
    if value not in {"FULL", "NORMAL", "EXTRA"}:
        raise ValueError(f"synchronous: expected FULL, NORMAL or EXTRA, found {synchronous!r}")
    return "off" if value == "NORMAL" else "on"

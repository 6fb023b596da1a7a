"""Store backends under test, and the events the store tests append.

Every backend gets a factory here; the contract suite in
``test_store_contract.py`` runs against each of them: SQLite (a file in the
test's folder) and PostgreSQL (a fresh schema of the database named by
``LICENSE_LEDGER_TEST_POSTGRES``, default ``postgresql://postgres@127.0.0.1:5432/test``,
dropped afterwards). A new backend joins by adding a factory with the same
methods to ``STORES``.
"""

from __future__ import annotations

import os
import re
import sqlite3
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from license_ledger.engine.codec import decode_lines
from license_ledger.engine.moments import format_time, parse_moment
from license_ledger.engine.replay import results
from license_ledger.ledger import Ledger
from license_ledger.store.sqlite import SQLiteBackend

#: The PostgreSQL database the tests may create schemas in (and drop them again).
POSTGRES_URL = os.environ.get("LICENSE_LEDGER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

T0 = parse_moment("2025-01-01T00:00:00Z", field="at")

# Codes as a user might type them; each normalises to 20 letters and digits.
CODE_A = "abcde-fghij-klmno-1a2b3"
CODE_B = "QRSTU VWXYZ 23456 7C8D9"
CODE_TRIAL = "TRIAL-00000-11111-22T22"
CODE_SEAT = "SEATS-ONLYO-NEONE-5EA71"


def at(days: float = 0, hours: float = 0, minutes: float = 0) -> str:
    """A time ``days``/``hours``/``minutes`` after 2025-01-01T00:00:00Z, as RFC 3339 text."""
    return format_time(T0 + timedelta(days=days, hours=hours, minutes=minutes))


def when(days: float = 0, hours: float = 0, minutes: float = 0) -> datetime:
    """The same moment as :func:`at`, as a datetime."""
    return T0 + timedelta(days=days, hours=hours, minutes=minutes)


class Clock:
    """A clock a test moves by hand (also backwards)."""

    def __init__(self, start: str = "2025-06-01T00:00:00Z") -> None:
        self.now = parse_moment(start, field="at")

    def __call__(self) -> datetime:
        return self.now

    def set(self, text: str) -> None:
        self.now = parse_moment(text, field="at")


# --- events as dicts -----------------------------------------------------------


def issued(
    code: str, *, kind: str = "commercial", term_days: int = 30, max_devices: int = 1, **more: Any
) -> dict[str, Any]:
    return {
        "type": "CodeIssued",
        "code": code,
        "kind": kind,
        "term_days": term_days,
        "max_devices": max_devices,
        **more,
    }


def registered(device: str, app_version: str = "21.3", **more: Any) -> dict[str, Any]:
    return {"type": "DeviceRegistered", "device": device, "app_version": app_version, **more}


def entered(device: str, code: str, **more: Any) -> dict[str, Any]:
    return {"type": "CodeEntered", "device": device, "code": code, **more}


def updated(device: str, app_version: str, **more: Any) -> dict[str, Any]:
    return {"type": "AppUpdated", "device": device, "app_version": app_version, **more}


def blocked(code: str, **more: Any) -> dict[str, Any]:
    return {"type": "CodeBlocked", "code": code, **more}


def device_event(kind: str, device: str, **more: Any) -> dict[str, Any]:
    return {"type": kind, "device": device, **more}


# --- replay from the export, independent of the stored projection ---------------


def replayed_results(ledger: Ledger) -> list[tuple[int, str, str | None, dict[str, Any] | None]]:
    """(seq, result, reason, detail) of every event, derived by replaying the export."""
    events = list(decode_lines(ledger.export()))
    return [(seq, o.result, o.reason, o.detail) for seq, _, o in results(events)]


# --- backends -------------------------------------------------------------------


class Store(Protocol):
    """What the contract suite needs of a backend's factory."""

    name: str
    #: Where the store lives, as the backend's messages name it.
    location: str
    #: What the database raises when a trigger or a constraint refuses a write.
    refused_error: type[Exception]
    #: What the store says when an idempotency key is stored twice in its scope.
    duplicate_key_error: str

    def open(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        snapshot_every: int = 100_000,
        wrap: Callable[[Any], Any] | None = None,
    ) -> Ledger: ...

    def another(self) -> Store: ...

    def exists(self) -> bool: ...

    def raw(self) -> Any: ...

    def tables(self) -> set[str]: ...

    def record_schema_version(self, version: int) -> None: ...

    def message(self, error: Exception) -> str: ...

    def close_all(self) -> None: ...


class SQLiteStore:
    """The SQLite backend: one file in a test's temporary folder."""

    name = "sqlite"
    refused_error: type[Exception] = sqlite3.IntegrityError
    duplicate_key_error = "UNIQUE constraint failed: index 'events_by_idempotency_key'"

    def __init__(self, folder: Path, name: str = "ledger.db") -> None:
        self.folder = folder
        self.path = folder / name
        self.location = str(self.path)
        self._opened: list[Ledger] = []
        self._raw: list[sqlite3.Connection] = []
        self._others: list[SQLiteStore] = []

    def backend(self, **options: Any) -> SQLiteBackend:
        return SQLiteBackend(self.path, **options)

    def open(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        snapshot_every: int = 100_000,
        wrap: Callable[[Any], Any] | None = None,
    ) -> Ledger:
        """A Ledger on this store; ``wrap`` may wrap the backend (to watch it)."""
        backend = self.backend()
        kwargs: dict[str, Any] = {"snapshot_every": snapshot_every}
        if clock is not None:
            kwargs["clock"] = clock
        ledger = Ledger(wrap(backend) if wrap else backend, **kwargs)
        self._opened.append(ledger)
        return ledger

    def another(self) -> SQLiteStore:
        """A second, empty store of the same kind."""
        other = SQLiteStore(self.folder, f"another-{len(self._others) + 1}.db")
        self._others.append(other)
        return other

    def exists(self) -> bool:
        return self.path.exists()

    def raw(self) -> sqlite3.Connection:
        """A connection behind the ledger's back (autocommit)."""
        conn = sqlite3.connect(self.path, isolation_level=None)
        self._raw.append(conn)
        return conn

    def tables(self) -> set[str]:
        rows = self.raw().execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return {name for (name,) in rows}

    def record_schema_version(self, version: int) -> None:
        self.raw().execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?, '2099-01-01T00:00:00Z')", (version,)
        )

    def message(self, error: Exception) -> str:
        """What the database said when it refused a write."""
        return str(error)

    def close_all(self) -> None:
        for ledger in self._opened:
            ledger.close()
        for conn in self._raw:
            conn.close()
        for other in self._others:
            other.close_all()


def with_schema(url: str, schema: str) -> str:
    """``url`` naming ``schema`` (``?schema=``, or ``&schema=`` after other options)."""
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def fresh_schema() -> str:
    """A schema name no other test uses."""
    return f"ll_test_{uuid.uuid4().hex[:16]}"


class RawPostgres:
    """A psycopg session behind the ledger's back (autocommit), in the store's schema.

    ``execute`` takes the ``?`` placeholders the contract suite writes for SQLite.
    """

    def __init__(self, url: str, schema: str) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute(f"SET search_path TO {schema}")

    def execute(self, statement: str, params: tuple[Any, ...] | list[Any] = ()) -> Any:
        return self.conn.execute(re.sub(r"\?", "%s", statement), params or None)  # type: ignore[call-overload]

    def close(self) -> None:
        self.conn.close()


class PostgresStore:
    """The PostgreSQL backend: a fresh schema of the test database, dropped at the end."""

    name = "postgres"
    duplicate_key_error = 'duplicate key value violates unique constraint "events_by_idempotency_key"'

    def __init__(self, folder: Path, schema: str | None = None) -> None:
        import psycopg

        self.refused_error: type[Exception] = psycopg.IntegrityError
        self.folder = folder
        self.schema = schema or fresh_schema()
        self.location = with_schema(POSTGRES_URL, self.schema)
        self._opened: list[Ledger] = []
        self._raw: list[RawPostgres] = []
        self._others: list[PostgresStore] = []

    def backend(self, **options: Any) -> Any:
        from license_ledger.store.postgres import PostgresBackend

        return PostgresBackend(self.location, **options)

    def open(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        snapshot_every: int = 100_000,
        wrap: Callable[[Any], Any] | None = None,
    ) -> Ledger:
        """A Ledger on this store; ``wrap`` may wrap the backend (to watch it)."""
        backend = self.backend()
        kwargs: dict[str, Any] = {"snapshot_every": snapshot_every}
        if clock is not None:
            kwargs["clock"] = clock
        ledger = Ledger(wrap(backend) if wrap else backend, **kwargs)
        self._opened.append(ledger)
        return ledger

    def another(self) -> PostgresStore:
        """A second, empty store of the same kind (another schema)."""
        other = PostgresStore(self.folder)
        self._others.append(other)
        return other

    def raw(self) -> RawPostgres:
        raw = RawPostgres(POSTGRES_URL, self.schema)
        self._raw.append(raw)
        return raw

    def exists(self) -> bool:
        found = self.raw().execute("SELECT 1 FROM pg_namespace WHERE nspname = ?", (self.schema,))
        return found.fetchone() is not None

    def tables(self) -> set[str]:
        rows = self.raw().execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = ? AND table_type = 'BASE TABLE'",
            (self.schema,),
        )
        return {name for (name,) in rows.fetchall()}

    def record_schema_version(self, version: int) -> None:
        self.raw().execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?, '2099-01-01T00:00:00Z')", (version,)
        )

    def message(self, error: Exception) -> str:
        """What the database said when it refused a write (without PostgreSQL's CONTEXT lines)."""
        return str(getattr(error, "diag").message_primary)  # noqa: B009

    def close_all(self) -> None:
        for ledger in self._opened:
            ledger.close()
        for raw in self._raw:
            raw.close()
        for other in self._others:
            other.close_all()
        drop_schema(self.schema)


def drop_schema(schema: str) -> None:
    """Drop a schema a test made (never one it did not make: they all start with ``ll_test_``)."""
    import psycopg

    assert schema.startswith("ll_test_")
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def postgres_available() -> bool:
    """Whether psycopg is installed and the test database is named (``off`` skips PostgreSQL)."""
    if POSTGRES_URL in ("", "off"):
        return False
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return False
    return True


STORES: dict[str, Callable[[Path], Store]] = {"sqlite": SQLiteStore}
if postgres_available():
    STORES["postgres"] = PostgresStore

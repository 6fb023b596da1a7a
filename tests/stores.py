"""Store backends under test, and the events the store tests append.

Every backend gets a factory here; the contract suite in
``test_store_contract.py`` runs against each of them. A new backend (say
PostgreSQL) joins by adding a factory with the same methods to ``STORES``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from license_ledger.engine.codec import decode_lines
from license_ledger.engine.moments import format_time, parse_moment
from license_ledger.engine.replay import results
from license_ledger.ledger import Ledger
from license_ledger.store.sqlite import SQLiteBackend

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
    #: What the store says when an idempotency key is stored twice in its scope (a regex).
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

    def close_all(self) -> None: ...


class SQLiteStore:
    """The SQLite backend: one file in a test's temporary folder."""

    name = "sqlite"
    refused_error: type[Exception] = sqlite3.IntegrityError
    duplicate_key_error = r"^UNIQUE constraint failed: index 'events_by_idempotency_key'$"

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

    def close_all(self) -> None:
        for ledger in self._opened:
            ledger.close()
        for conn in self._raw:
            conn.close()
        for other in self._others:
            other.close_all()


STORES: dict[str, Callable[[Path], Store]] = {"sqlite": SQLiteStore}

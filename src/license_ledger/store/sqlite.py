"""The embedded default: one SQLite file, written through sqlite-utils.

Guarantees come from the schema, not from Python: triggers refuse UPDATE and
DELETE on the log and any seq that is not the next one; a unique index makes
an idempotency key name one event. Writers serialise on ``BEGIN IMMEDIATE``.
The file stays browsable: ``seq``, ``type``, ``at``, ``device`` columns and
the payload as JSON text. See ``docs/storage.md``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from ..engine.moments import format_time, utc_now
from ..errors import NewerSchema, NotALedger
from .protocol import Effect, StoredEvent

__all__ = ["STORE_SCHEMA_VERSION", "SQLiteBackend"]

#: The version of the tables below; a newer file is refused, never guessed at.
STORE_SCHEMA_VERSION = 1
FORMAT = "license-ledger"

_COLUMNS = "seq, type, at, device, id, v, payload, hash, result, reason, detail, status"

_SCHEMA = """
CREATE INDEX events_by_device ON events(device) WHERE device IS NOT NULL;
CREATE UNIQUE INDEX events_by_id ON events(id) WHERE id IS NOT NULL;
CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'license-ledger: the event log is append-only (UPDATE refused)'); END;
CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'license-ledger: the event log is append-only (DELETE refused)'); END;
CREATE TRIGGER events_seq_is_gapless BEFORE INSERT ON events
WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM events)
BEGIN SELECT RAISE(ABORT, 'license-ledger: seq must be the next one'); END;
CREATE TRIGGER effects_are_append_only_update BEFORE UPDATE ON effects
BEGIN SELECT RAISE(ABORT, 'license-ledger: the event log is append-only (UPDATE refused)'); END;
CREATE TRIGGER effects_are_append_only_delete BEFORE DELETE ON effects
BEGIN SELECT RAISE(ABORT, 'license-ledger: the event log is append-only (DELETE refused)'); END;
"""


class SQLiteBackend:
    """A ledger in one SQLite file (WAL mode)."""

    def __init__(self, path: str | Path, *, create: bool = True, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise NotALedger(f"{self.path}: no such file (nothing to open; `append` creates one)")
        if self.path.is_dir():
            raise NotALedger(f"{self.path}: is a folder, not a license-ledger file")
        if not self.path.parent.is_dir():
            raise NotALedger(f"{self.path}: cannot create a ledger there: no folder {self.path.parent}")
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=60)
            self._conn = conn
            self.db = sqlite_utils.Database(conn)
            conn.execute("PRAGMA busy_timeout = 60000")
            # Look before writing: journal_mode = WAL is recorded in the file, and a
            # file that is refused must be left exactly as it was.
            self._refuse_foreign()
            conn.execute("PRAGMA journal_mode = WAL")
            # FULL: a commit is on disk before append returns, even across a power
            # cut. NORMAL survives a crash of the process only (see docs/storage.md).
            conn.execute(f"PRAGMA synchronous = {_pragma_value(synchronous)}")
            conn.execute("PRAGMA cache_size = -65536")
            conn.execute("PRAGMA wal_autocheckpoint = 10000")
            self._ensure_schema()
        except sqlite3.DatabaseError as exc:
            self._close_quietly()
            raise NotALedger(f"{self.path}: not a license-ledger file ({exc})") from None
        except BaseException:
            self._close_quietly()
            raise

    # --- schema --------------------------------------------------------------

    def _refuse_foreign(self) -> None:
        tables = set(self.db.table_names())
        if tables and "ledger_meta" not in tables:
            raise NotALedger(
                f"{self.path}: an SQLite database, but not a license-ledger file "
                f"(found tables {', '.join(sorted(tables)[:5])})"
            )

    def _ensure_schema(self) -> None:
        tables = set(self.db.table_names())
        if "ledger_meta" in tables:
            self._check_version()
            return
        self._refuse_foreign()
        with self.write_transaction():
            if "ledger_meta" in self.db.table_names():  # another process won the race
                return
            self.db.table("ledger_meta").create({"key": str, "value": str}, pk="key")
            self.db.table("schema_version").create({"version": int, "applied_at": str}, pk="version")
            self.db.table("events").create(
                {
                    "seq": int,
                    "type": str,
                    "at": str,
                    "device": str,
                    "id": str,
                    "v": int,
                    "payload": str,
                    "hash": str,
                    "result": str,
                    "reason": str,
                    "detail": str,
                    "status": str,
                },
                pk="seq",
                not_null=["type", "at", "v", "payload", "hash", "result"],
            )
            self.db.table("effects").create(
                {"seq": int, "device": str, "at": str, "status": str},
                pk=("device", "seq"),
                not_null=["seq", "device", "at", "status"],
            )
            self.db.table("snapshot").create({"id": int, "seq": int, "world": bytes}, pk="id")
            for statement in _SCHEMA.strip().split(";\n"):
                self._conn.execute(statement)
            self.db.table("ledger_meta").insert({"key": "format", "value": FORMAT})
            self.db.table("schema_version").insert(
                {"version": STORE_SCHEMA_VERSION, "applied_at": format_time(utc_now())}
            )

    def _check_version(self) -> None:
        row = self._conn.execute("SELECT value FROM ledger_meta WHERE key = 'format'").fetchone()
        if row is None or row[0] != FORMAT:
            raise NotALedger(f"{self.path}: ledger_meta does not say {FORMAT!r}")
        (version,) = self._conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        if version is None or version > STORE_SCHEMA_VERSION:
            raise NewerSchema(
                f"{self.path}: store schema version {version}, newer than this "
                f"license-ledger understands ({STORE_SCHEMA_VERSION}); upgrade license-ledger"
            )

    # --- writing -------------------------------------------------------------

    @contextmanager
    def write_transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def insert(self, events: list[StoredEvent], effects: list[Effect]) -> None:
        # Plain executemany: sqlite-utils' insert_all costs ~2x for rows we already
        # shaped, and we are inside our own transaction anyway.
        self._conn.executemany(
            f"INSERT INTO events ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    e.seq,
                    e.type,
                    e.at,
                    e.device,
                    e.id,
                    e.v,
                    e.payload,
                    e.hash,
                    e.result,
                    e.reason,
                    e.detail,
                    e.status,
                )
                for e in events
            ],
        )
        if effects:
            self._conn.executemany(
                "INSERT INTO effects (seq, device, at, status) VALUES (?,?,?,?)",
                [(f.seq, f.device, f.at, f.status) for f in effects],
            )

    def save_snapshot(self, seq: int, data: bytes) -> None:
        self._conn.execute("INSERT OR REPLACE INTO snapshot (id, seq, world) VALUES (1, ?, ?)", (seq, data))

    # --- reading -------------------------------------------------------------

    def head(self) -> tuple[int, str | None]:
        row = self._conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        return (0, None) if row is None else (row[0], row[1])

    def events(self, after: int = 0, limit: int | None = None) -> Iterator[StoredEvent]:
        sql = f"SELECT {_COLUMNS} FROM events WHERE seq > ? ORDER BY seq"
        params: tuple[int, ...] = (after,)
        if limit is not None:
            sql += " LIMIT ?"
            params = (after, limit)
        cursor = self._conn.execute(sql, params)
        while rows := cursor.fetchmany(1000):
            for row in rows:
                yield StoredEvent(*row)

    def payloads(self, after: int = 0, at_most: str | None = None) -> Iterator[tuple[int, str]]:
        # The cursor itself: a C iterator, no Python frame per row on replay's hot path.
        if at_most is None:
            return self._conn.execute("SELECT v, payload FROM events WHERE seq > ? ORDER BY seq", (after,))
        return self._conn.execute(
            "SELECT v, payload FROM events WHERE seq > ? AND at <= ? ORDER BY seq", (after, at_most)
        )

    def effects(self) -> Iterator[Effect]:
        cursor = self._conn.execute("SELECT seq, device, at, status FROM effects ORDER BY seq, device")
        for row in cursor:
            yield Effect(*row)

    def by_id(self, event_id: str) -> StoredEvent | None:
        row = self._conn.execute(f"SELECT {_COLUMNS} FROM events WHERE id = ?", (event_id,)).fetchone()
        return None if row is None else StoredEvent(*row)

    def device_status(self, device: str, at_most: str) -> tuple[int, str] | None:
        named = self._conn.execute(
            "SELECT seq, status FROM events WHERE device = ? AND at <= ? ORDER BY seq DESC LIMIT 1",
            (device, at_most),
        ).fetchone()
        blocked = self._conn.execute(
            "SELECT seq, status FROM effects WHERE device = ? AND at <= ? ORDER BY seq DESC LIMIT 1",
            (device, at_most),
        ).fetchone()
        candidates = [row for row in (named, blocked) if row is not None]
        return max(candidates) if candidates else None

    def device_rows(self, device: str) -> list[tuple[StoredEvent, str]]:
        named = [
            (StoredEvent(*row), row[-1])
            for row in self._conn.execute(
                f"SELECT {_COLUMNS} FROM events WHERE device = ? ORDER BY seq", (device,)
            )
        ]
        prefixed = ", ".join(f"e.{c.strip()}" for c in _COLUMNS.split(","))
        blocked = [
            (StoredEvent(*row[:-1]), row[-1])
            for row in self._conn.execute(
                f"SELECT {prefixed}, f.status FROM effects f JOIN events e ON e.seq = f.seq "
                "WHERE f.device = ? ORDER BY f.seq",
                (device,),
            )
        ]
        return sorted(named + blocked, key=lambda pair: pair[0].seq)

    def snapshot(self) -> tuple[int, bytes] | None:
        row = self._conn.execute("SELECT seq, world FROM snapshot WHERE id = 1").fetchone()
        return None if row is None else (row[0], row[1])

    def close(self) -> None:
        self._conn.close()

    def _close_quietly(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()


def _pragma_value(synchronous: str) -> str:
    value = synchronous.upper()
    if value not in {"FULL", "NORMAL", "EXTRA"}:
        raise ValueError(f"synchronous: expected FULL, NORMAL or EXTRA, found {synchronous!r}")
    return value

"""The reading half of the SQLite backend: the log, its projection and its snapshots.

A mixin of :class:`~license_ledger.store.sqlite.SQLiteBackend`, which gives
the connection (``_conn``); the forensic reads come from
:class:`~license_ledger.store.sqlite_forensics.SQLiteForensics`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from .protocol import FeedRow, ResultRow, Snapshot, StoredEvent, TraceRow
from .sqlite_forensics import SQLiteForensics

__all__ = ["FACT_COLUMNS", "SQLiteReads"]

FACT_COLUMNS = "seq, type, at, device, idempotency_key, schema_version, payload, hash"
_FACT_COLUMNS = FACT_COLUMNS
_LARGEST = 2**63 - 1


class SQLiteReads(SQLiteForensics):
    """Every query of a ledger file (a mixin: the backend gives the connection)."""

    _conn: sqlite3.Connection

    def head(self) -> tuple[int, str | None]:
        row = self._conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        return (0, None) if row is None else (row[0], row[1])

    def events(self, after: int = 0, limit: int | None = None) -> Iterator[StoredEvent]:
        sql = f"SELECT {_FACT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
        cursor = self._conn.execute(sql, (after, -1 if limit is None else limit))
        while rows := cursor.fetchmany(1000):
            for row in rows:
                yield StoredEvent(*row)

    def fact_rows(self) -> Iterator[tuple[int, str, str, str | None, str | None, int, str, str]]:
        return self._conn.execute(f"SELECT {_FACT_COLUMNS} FROM events ORDER BY seq")

    def feed(self, after: int = 0, limit: int | None = None) -> list[FeedRow]:
        prefixed = ", ".join(f"e.{c}" for c in _FACT_COLUMNS.split(", "))
        cursor = self._conn.execute(
            f"SELECT {prefixed}, r.result, r.reason, r.detail, r.evidence FROM events e "
            "JOIN event_results r ON r.seq = e.seq WHERE e.seq > ? ORDER BY e.seq LIMIT ?",
            (after, -1 if limit is None else limit),
        )
        return [FeedRow(*row) for row in cursor]

    def payloads(self, after: int = 0, at_most: str | None = None) -> Iterator[tuple[int, str]]:
        # The cursor itself: a C iterator, no Python frame per row on replay's hot path.
        if at_most is None:
            return self._conn.execute(
                "SELECT schema_version, payload FROM events WHERE seq > ? ORDER BY seq", (after,)
            )
        return self._conn.execute(
            "SELECT schema_version, payload FROM events WHERE seq > ? AND at <= ? ORDER BY seq",
            (after, at_most),
        )

    def payload_batches(
        self, *, at_most: str | None = None, size: int = 10_000, version: int = 1
    ) -> Iterator[str | list[tuple[int, str]]]:
        """The payloads in seq order, ``size`` at a time: a JSON array when all are of ``version``.

        One decoder call per array instead of one per payload; a batch with
        another version comes as ``(schema version, payload)`` rows.
        """
        head = self.head()[0]
        where = "seq > ? AND seq <= ?" if at_most is None else "seq > ? AND seq <= ? AND at <= ?"
        for start in range(0, head, size):
            bounds: tuple[object, ...] = (
                (start, start + size) if at_most is None else (start, start + size, at_most)
            )
            array, low, high = self._conn.execute(
                "SELECT '[' || group_concat(payload, ',') || ']', min(schema_version), max(schema_version) "
                f"FROM (SELECT payload, schema_version FROM events WHERE {where} ORDER BY seq)",
                bounds,
            ).fetchone()
            if array is None:
                continue
            if low == high == version:
                yield array
            else:
                yield self._conn.execute(
                    f"SELECT schema_version, payload FROM events WHERE {where} ORDER BY seq", bounds
                ).fetchall()

    def numbered_payloads(self, after: int = 0) -> Iterator[tuple[int, int, str]]:
        """(seq, schema version, payload) in seq order."""
        return self._conn.execute(
            "SELECT seq, schema_version, payload FROM events WHERE seq > ? ORDER BY seq", (after,)
        )

    def results(self, after: int = 0) -> Iterator[tuple[int, str, str | None, str | None, str | None]]:
        return self._conn.execute(
            "SELECT seq, result, reason, detail, evidence FROM event_results WHERE seq > ? ORDER BY seq",
            (after,),
        )

    def statuses(self) -> Iterator[tuple[str, int, str, bytes | None]]:
        return self._conn.execute("SELECT device, seq, state, status FROM status_after ORDER BY seq, device")

    def by_key(self, device: str | None, key: str) -> StoredEvent | None:
        row = self._conn.execute(
            f"SELECT {_FACT_COLUMNS} FROM events WHERE coalesce(device, '') = ? AND idempotency_key = ?",
            (device or "", key),
        ).fetchone()
        return None if row is None else StoredEvent(*row)

    def result_of(self, seq: int) -> ResultRow | None:
        row = self._conn.execute(
            "SELECT seq, result, reason, detail, evidence FROM event_results WHERE seq = ?", (seq,)
        ).fetchone()
        return None if row is None else ResultRow(*row)

    def device_status(self, device: str, at_most: str) -> tuple[int, str, bytes] | None:
        # The device's rows newest first (its key range), each event's time by its rowid;
        # the packed status is the row's own or, where nothing but the state changed, an earlier one's.
        row = self._conn.execute(
            "SELECT s.seq, s.state, coalesce(s.status, (SELECT p.status FROM status_after p "
            "WHERE p.device = s.device AND p.seq < s.seq AND p.status IS NOT NULL ORDER BY p.seq DESC LIMIT 1)) "
            "FROM status_after s CROSS JOIN events e ON e.seq = s.seq "
            "WHERE s.device = ? AND e.at <= ? ORDER BY s.seq DESC LIMIT 1",
            (device, at_most),
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def latest_status(self, device: str) -> bytes | None:
        row = self._conn.execute(
            "SELECT status FROM status_after WHERE device = ? AND status IS NOT NULL ORDER BY seq DESC LIMIT 1",
            (device,),
        ).fetchone()
        return None if row is None else row[0]

    def device_trace(
        self, device: str, after_at: str | None = None, at_most: str | None = None
    ) -> list[TraceRow]:
        cursor = self._conn.execute(
            "SELECT s.seq, e.type, e.at, r.result, r.reason, r.detail, s.state, r.evidence "
            "FROM status_after s CROSS JOIN events e ON e.seq = s.seq JOIN event_results r ON r.seq = s.seq "
            "WHERE s.device = ? AND e.at > ? AND e.at <= ? ORDER BY s.seq",
            (device, after_at or "", at_most or "~"),
        )
        return [TraceRow(*row) for row in cursor]

    def snapshot(self, up_to: int | None = None) -> Snapshot | None:
        row = self._conn.execute(
            "SELECT seq, chain_hash, format, world FROM snapshots WHERE seq <= ? ORDER BY seq DESC LIMIT 1",
            (_LARGEST if up_to is None else up_to,),
        ).fetchone()
        return None if row is None else Snapshot(*row)

    def snapshot_seqs(self) -> list[int]:
        return [row[0] for row in self._conn.execute("SELECT seq FROM snapshots ORDER BY seq")]

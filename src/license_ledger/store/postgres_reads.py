"""The reading half of the PostgreSQL backend: every query of the log and its projection.

A mixin of :class:`~license_ledger.store.postgres.PostgresBackend`: it reads
through the session the backend keeps (``conn``) and names tables through
``_q`` (the schema filled in).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql

from .protocol import FeedRow, ResultRow, Snapshot, StoredEvent, TraceRow

__all__ = ["FACT_COLUMNS", "PAGE", "PostgresReads"]

FACT_COLUMNS = "seq, type, at, device, idempotency_key, schema_version, payload, hash"
#: Rows per page when streaming the log (keyset pages on seq: any size of log in bounded memory).
PAGE = 10_000
_PAGE = PAGE
_LARGEST = 2**63 - 1
_FACT_COLUMNS = FACT_COLUMNS


class PostgresReads:
    """The queries of a PostgreSQL ledger (a mixin: the backend gives the session and the schema)."""

    @property
    def conn(self) -> psycopg.Connection[Any]:
        raise NotImplementedError

    def _q(self, text: str) -> sql.Composed:
        raise NotImplementedError

    def head(self) -> tuple[int, str | None]:
        row = self.conn.execute(
            self._q("SELECT seq, hash FROM {s}.events ORDER BY seq DESC LIMIT 1")
        ).fetchone()
        return (0, None) if row is None else (row[0], row[1])

    def _pages(self, query: str, after: int, *extra: object, limit: int | None = None) -> Iterator[Any]:
        """Rows of ``query`` (``seq > %s ... ORDER BY seq LIMIT %s``), a page at a time.

        Keyset pages rather than one cursor: verify reads several of these
        streams at once on one session, inside one read transaction.
        """
        statement = self._q(query)
        left = limit
        while left is None or left > 0:
            size = _PAGE if left is None else min(_PAGE, left)
            rows = self.conn.execute(statement, (after, *extra, size)).fetchall()
            yield from rows
            if len(rows) < size:
                return
            after = rows[-1][0]
            if left is not None:
                left -= len(rows)

    def events(self, after: int = 0, limit: int | None = None) -> Iterator[StoredEvent]:
        query = f"SELECT {_FACT_COLUMNS} FROM {{s}}.events WHERE seq > %s ORDER BY seq LIMIT %s"
        for row in self._pages(query, after, limit=limit):
            yield StoredEvent(*row)

    def feed(self, after: int = 0, limit: int | None = None) -> list[FeedRow]:
        prefixed = ", ".join(f"e.{c}" for c in _FACT_COLUMNS.split(", "))
        cursor = self.conn.execute(
            self._q(
                f"SELECT {prefixed}, r.result, r.reason, r.detail, r.evidence FROM {{s}}.events e "
                "JOIN {s}.event_results r ON r.seq = e.seq WHERE e.seq > %s ORDER BY e.seq LIMIT %s"
            ),
            (after, limit),
        )
        return [FeedRow(*row) for row in cursor]

    def payloads(self, after: int = 0, at_most: str | None = None) -> Iterator[tuple[int, str]]:
        if at_most is None:
            query = "SELECT seq, schema_version, payload FROM {s}.events WHERE seq > %s ORDER BY seq LIMIT %s"
            rows = self._pages(query, after)
        else:
            query = (
                "SELECT seq, schema_version, payload FROM {s}.events "
                "WHERE seq > %s AND at <= %s ORDER BY seq LIMIT %s"
            )
            rows = self._pages(query, after, at_most)
        return ((version, payload) for _, version, payload in rows)

    def numbered_payloads(self, after: int = 0) -> Iterator[tuple[int, int, str]]:
        """(seq, schema version, payload) in seq order."""
        query = "SELECT seq, schema_version, payload FROM {s}.events WHERE seq > %s ORDER BY seq LIMIT %s"
        return self._pages(query, after)

    def fact_rows(self) -> Iterator[tuple[int, str, str, str | None, str | None, int, str, str]]:
        query = f"SELECT {_FACT_COLUMNS} FROM {{s}}.events WHERE seq > %s ORDER BY seq LIMIT %s"
        return self._pages(query, 0)

    def results(self, after: int = 0) -> Iterator[tuple[int, str, str | None, str | None, str | None]]:
        query = (
            "SELECT seq, result, reason, detail, evidence FROM {s}.event_results "
            "WHERE seq > %s ORDER BY seq LIMIT %s"
        )
        return self._pages(query, after)

    def statuses(self) -> Iterator[tuple[str, int, str, bytes | None]]:
        # Keyset pages on (seq, device): a block may give one event several rows.
        statement = self._q(
            "SELECT device, seq, state, status FROM {s}.status_after "
            "WHERE (seq, device) > (%s, %s) ORDER BY seq, device LIMIT %s"
        )
        seq, device = -1, ""
        while True:
            rows = self.conn.execute(statement, (seq, device, _PAGE)).fetchall()
            for name, at_seq, state, status in rows:
                yield name, at_seq, state, None if status is None else bytes(status)
            if len(rows) < _PAGE:
                return
            seq, device = rows[-1][1], rows[-1][0]

    def by_key(self, device: str | None, key: str) -> StoredEvent | None:
        row = self.conn.execute(
            self._q(
                f"SELECT {_FACT_COLUMNS} FROM {{s}}.events "
                "WHERE coalesce(device, '') = %s AND idempotency_key = %s"
            ),
            (device or "", key),
        ).fetchone()
        return None if row is None else StoredEvent(*row)

    def result_of(self, seq: int) -> ResultRow | None:
        row = self.conn.execute(
            self._q("SELECT seq, result, reason, detail, evidence FROM {s}.event_results WHERE seq = %s"),
            (seq,),
        ).fetchone()
        return None if row is None else ResultRow(*row)

    def device_status(self, device: str, at_most: str) -> tuple[int, str, bytes] | None:
        # The device's last row by that time; its packed status is its own or, where only the
        # state changed, the last one stored before it.
        row = self.conn.execute(
            self._q(
                "SELECT s.seq, s.state, coalesce(s.status, (SELECT p.status FROM {s}.status_after p "
                "WHERE p.device = s.device AND p.seq < s.seq AND p.status IS NOT NULL "
                "ORDER BY p.seq DESC LIMIT 1)) "
                "FROM {s}.status_after s JOIN {s}.events e ON e.seq = s.seq "
                "WHERE s.device = %s AND e.at <= %s ORDER BY s.seq DESC LIMIT 1"
            ),
            (device, at_most),
        ).fetchone()
        return None if row is None else (row[0], row[1], bytes(row[2]))

    def latest_status(self, device: str) -> bytes | None:
        row = self.conn.execute(
            self._q(
                "SELECT status FROM {s}.status_after WHERE device = %s AND status IS NOT NULL "
                "ORDER BY seq DESC LIMIT 1"
            ),
            (device,),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def device_trace(
        self, device: str, after_at: str | None = None, at_most: str | None = None
    ) -> list[TraceRow]:
        cursor = self.conn.execute(
            self._q(
                "SELECT s.seq, e.type, e.at, r.result, r.reason, r.detail, s.state, r.evidence "
                "FROM {s}.status_after s JOIN {s}.events e ON e.seq = s.seq "
                "JOIN {s}.event_results r ON r.seq = s.seq "
                "WHERE s.device = %s AND e.at > %s AND e.at <= %s ORDER BY s.seq"
            ),
            (device, after_at or "", at_most or "~"),
        )
        return [TraceRow(*row) for row in cursor]

    def snapshot(self, up_to: int | None = None) -> Snapshot | None:
        row = self.conn.execute(
            self._q(
                "SELECT seq, chain_hash, format, world FROM {s}.snapshots WHERE seq <= %s "
                "ORDER BY seq DESC LIMIT 1"
            ),
            (_LARGEST if up_to is None else up_to,),
        ).fetchone()
        return None if row is None else Snapshot(row[0], row[1], row[2], bytes(row[3]))

    def snapshot_seqs(self) -> list[int]:
        return [row[0] for row in self.conn.execute(self._q("SELECT seq FROM {s}.snapshots ORDER BY seq"))]

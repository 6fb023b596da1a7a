"""The forensic reads of the PostgreSQL backend: indexed queries of the projection.

A mixin of :class:`~license_ledger.store.postgres.PostgresBackend`, the
counterpart of ``sqlite_forensics``: each status row comes with its event's
time (a join on ``events``) and the packed status in force, the row's own or
the device's last one stored before it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql

from .seek import last_seq_at

__all__ = ["PostgresForensics"]

_LARGEST = 2**63 - 1
_IN_FORCE = (
    "coalesce(s.status, (SELECT p.status FROM {s}.status_after p WHERE p.device = s.device "
    "AND p.seq < s.seq AND p.status IS NOT NULL ORDER BY p.seq DESC LIMIT 1))"
)


class PostgresForensics:
    """seq_at, status_rows, status_before, latest_statuses and states (a mixin)."""

    @property
    def conn(self) -> psycopg.Connection[Any]:
        raise NotImplementedError

    def _q(self, text: str) -> sql.Composed:
        raise NotImplementedError

    def head(self) -> tuple[int, str | None]:
        raise NotImplementedError

    def seq_at(self, at_most: str) -> int:
        statement = self._q("SELECT at FROM {s}.events WHERE seq = %s")

        def time_of(seq: int) -> str | None:
            row = self.conn.execute(statement, (seq,)).fetchone()
            return None if row is None else str(row[0])

        return last_seq_at(self.head()[0], time_of, at_most)

    def status_rows(
        self,
        device: str,
        after: int = 0,
        up_to: int | None = None,
        *,
        state: str | None = None,
        result: str | None = None,
        reason: str | None = None,
    ) -> Iterator[tuple[int, str, str, bytes]]:
        where = ["s.device = %s", "s.seq > %s", "s.seq <= %s"]
        args: list[object] = [device, after, up_to or _LARGEST]
        join = ""
        if state is not None:
            where.append("s.state = %s")
            args.append(state)
        if result is not None or reason is not None:
            join = " JOIN {s}.event_results r ON r.seq = s.seq"
            for column, value in (("result", result), ("reason", reason)):
                if value is not None:
                    where.append(f"r.{column} = %s")
                    args.append(value)
        cursor = self.conn.execute(
            self._q(
                f"SELECT s.seq, e.at, s.state, {_IN_FORCE} FROM {{s}}.status_after s "
                f"JOIN {{s}}.events e ON e.seq = s.seq{join} WHERE {' AND '.join(where)} ORDER BY s.seq"
            ),
            args,
        )
        return ((seq, at, found, bytes(packed)) for seq, at, found, packed in cursor.fetchall())

    def status_before(self, device: str, up_to: int) -> tuple[int, str, str, bytes] | None:
        row = self.conn.execute(
            self._q(
                f"SELECT s.seq, e.at, s.state, {_IN_FORCE} FROM {{s}}.status_after s "
                "JOIN {s}.events e ON e.seq = s.seq WHERE s.device = %s AND s.seq <= %s "
                "ORDER BY s.seq DESC LIMIT 1"
            ),
            (device, up_to),
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2], bytes(row[3]))

    def latest_statuses(self, devices: list[str], up_to: int) -> dict[str, tuple[str, bytes]]:
        if not devices:
            return {}
        rows = self.conn.execute(
            self._q(
                "SELECT DISTINCT ON (s.device) s.device, s.state, "
                "(SELECT p.status FROM {s}.status_after p WHERE p.device = s.device AND p.seq <= %s "
                "AND p.status IS NOT NULL ORDER BY p.seq DESC LIMIT 1) "
                "FROM {s}.status_after s WHERE s.device = ANY(%s) AND s.seq <= %s "
                "ORDER BY s.device, s.seq DESC"
            ),
            (up_to, devices, up_to),
        ).fetchall()
        return {device: (state, bytes(packed)) for device, state, packed in rows}

    def states(
        self, up_to: int, state: str | None = None, after: str = "", limit: int | None = None
    ) -> list[tuple[str, str]]:
        rows = self.conn.execute(
            self._q(
                "SELECT device, state FROM ("
                "SELECT DISTINCT ON (device) device, state FROM {s}.status_after "
                'WHERE device COLLATE "C" > %s AND seq <= %s ORDER BY device, seq DESC'
                ') latest WHERE %s::text IS NULL OR state = %s ORDER BY device COLLATE "C" LIMIT %s'
            ),
            (after, up_to, state, state, limit),
        ).fetchall()
        return [(row[0], row[1]) for row in rows]

"""The forensic reads of the SQLite backend: indexed queries of the projection.

A mixin of :class:`~license_ledger.store.sqlite.SQLiteBackend` (it gives the
connection, ``_conn``). ``status_after`` keeps a device's state on every row
and its packed status only where that changed: each row here comes with the
event's time (a join on ``events``) and the status in force, the row's own or
the device's last one stored before it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from .seek import last_seq_at

__all__ = ["SQLiteForensics"]

_LARGEST = 2**63 - 1
_CHUNK = 500
#: The packed status in force at a row ``s``: its own, or the device's last one stored before it.
_IN_FORCE = (
    "coalesce(s.status, (SELECT p.status FROM status_after p WHERE p.device = s.device "
    "AND p.seq < s.seq AND p.status IS NOT NULL ORDER BY p.seq DESC LIMIT 1))"
)


class SQLiteForensics:
    """seq_at, status_rows, status_before, latest_statuses and states (a mixin)."""

    _conn: sqlite3.Connection

    def head(self) -> tuple[int, str | None]:
        raise NotImplementedError

    def seq_at(self, at_most: str) -> int:
        def time_of(seq: int) -> str | None:
            row = self._conn.execute("SELECT at FROM events WHERE seq = ?", (seq,)).fetchone()
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
        where, args = ["s.device = ?", "s.seq > ?", "s.seq <= ?"], [device, after, up_to or _LARGEST]
        join = ""
        if state is not None:
            where.append("s.state = ?")
            args.append(state)
        if result is not None or reason is not None:
            join = " JOIN event_results r ON r.seq = s.seq"
            for column, value in (("result", result), ("reason", reason)):
                if value is not None:
                    where.append(f"r.{column} = ?")
                    args.append(value)
        return self._conn.execute(
            f"SELECT s.seq, e.at, s.state, {_IN_FORCE} FROM status_after s "
            f"CROSS JOIN events e ON e.seq = s.seq{join} WHERE {' AND '.join(where)} ORDER BY s.seq",
            args,
        )

    def status_before(self, device: str, up_to: int) -> tuple[int, str, str, bytes] | None:
        row = self._conn.execute(
            f"SELECT s.seq, e.at, s.state, {_IN_FORCE} FROM status_after s "
            "CROSS JOIN events e ON e.seq = s.seq WHERE s.device = ? AND s.seq <= ? "
            "ORDER BY s.seq DESC LIMIT 1",
            (device, up_to),
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2], row[3])

    def latest_statuses(self, devices: list[str], up_to: int) -> dict[str, tuple[str, bytes]]:
        states: dict[str, str] = {}
        packed: dict[str, bytes] = {}
        for start in range(0, len(devices), _CHUNK):
            chunk = devices[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            # SQLite takes the other columns from the row with the max (a bare column).
            cursor = self._conn.execute(
                f"SELECT device, state, max(seq) FROM status_after WHERE device IN ({marks}) AND seq <= ? "
                "GROUP BY device",
                [*chunk, up_to],
            )
            states.update((row[0], row[1]) for row in cursor)
            cursor = self._conn.execute(
                f"SELECT device, status, max(seq) FROM status_after WHERE device IN ({marks}) AND seq <= ? "
                "AND status IS NOT NULL GROUP BY device",
                [*chunk, up_to],
            )
            packed.update((row[0], row[1]) for row in cursor)
        return {device: (state, packed[device]) for device, state in states.items()}

    def states(
        self, up_to: int, state: str | None = None, after: str = "", limit: int | None = None
    ) -> list[tuple[str, str]]:
        # One pass over the covering index (device, state, seq): each device's
        # latest row up to the seq; the packed status is never read.
        cursor = self._conn.execute(
            "SELECT device, state FROM ("
            "SELECT device, state, max(seq) FROM status_after INDEXED BY status_after_by_state "
            "WHERE device > :after AND seq <= :up_to GROUP BY device"
            ") WHERE :state IS NULL OR state = :state ORDER BY device LIMIT :limit",
            {"after": after, "up_to": up_to, "state": state, "limit": -1 if limit is None else limit},
        )
        return [(row[0], row[1]) for row in cursor]

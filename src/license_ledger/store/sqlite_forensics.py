"""The SQLite backend's forensic reads: moments as seqs, a device's status rows, states by device.

Indexed reads of the projection for ``diff``, ``first``, ``devices`` and
``what-if`` (docs/storage.md, "Tables": ``status_after_by_state``), mixed
into :class:`~license_ledger.store.sqlite.SQLiteBackend`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

__all__ = ["LARGEST", "ForensicReads"]

#: The largest seq SQLite holds: "no upper bound".
LARGEST = 2**63 - 1


class ForensicReads:
    """The forensic half of the SQLite backend (``_conn`` and ``head`` are the backend's)."""

    _conn: sqlite3.Connection

    def head(self) -> tuple[int, str | None]:
        raise NotImplementedError

    def seq_at(self, at_most: str) -> int:
        # Times never go back along the log (the world refuses it): search by seq,
        # a few primary-key reads instead of an index on `at`.
        low, high = 0, self.head()[0]
        while low < high:
            middle = (low + high + 1) // 2
            row = self._conn.execute("SELECT at FROM events WHERE seq = ?", (middle,)).fetchone()
            if row is not None and row[0] <= at_most:
                low = middle
            else:
                high = middle - 1
        return low

    def status_rows(
        self,
        device: str,
        after: int = 0,
        up_to: int | None = None,
        *,
        state: str | None = None,
        result: str | None = None,
        reason: str | None = None,
    ) -> Iterator[tuple[int, str, str]]:
        where, args = ["s.device = ?", "s.seq > ?", "s.seq <= ?"], [device, after, up_to or LARGEST]
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
            f"SELECT s.seq, s.at, s.status FROM status_after s{join} WHERE {' AND '.join(where)} "
            "ORDER BY s.seq",
            args,
        )

    def status_before(self, device: str, up_to: int) -> tuple[int, str, str] | None:
        row = self._conn.execute(
            "SELECT seq, at, status FROM status_after WHERE device = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
            (device, up_to),
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def latest_statuses(self, devices: list[str], up_to: int) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(devices), 500):
            chunk = devices[start : start + 500]
            marks = ",".join("?" * len(chunk))
            cursor = self._conn.execute(
                f"SELECT device, status, max(seq) FROM status_after WHERE device IN ({marks}) AND seq <= ? "
                "GROUP BY device",
                [*chunk, up_to],
            )
            found.update((row[0], row[1]) for row in cursor)
        return found

    def states(
        self, up_to: int, state: str | None = None, after: str = "", limit: int | None = None
    ) -> list[tuple[str, str]]:
        # One pass over the covering index (device, state, seq): each device's
        # latest row up to the seq; the status JSON is never read.
        cursor = self._conn.execute(
            "SELECT device, state FROM ("
            "SELECT device, state, max(seq) FROM status_after INDEXED BY status_after_by_state "
            "WHERE device > :after AND seq <= :up_to GROUP BY device"
            ") WHERE :state IS NULL OR state = :state ORDER BY device LIMIT :limit",
            {"after": after, "up_to": up_to, "state": state, "limit": -1 if limit is None else limit},
        )
        return [(row[0], row[1]) for row in cursor]

"""The interface every storage backend implements, and the rows it stores.

A backend stores two kinds of rows and knows no rule. **Facts**
(:class:`StoredEvent`): what happened, append-only, covered by the hash
chain. **The projection** (:class:`ResultRow`, :class:`StatusRow`): what the
rules derived from the facts, written in the same transaction so that status
is one indexed read, and thrown away and derived anew by ``rebuild``.
:mod:`license_ledger.store.projection` is the one function that derives it.

The :class:`~license_ledger.ledger.Ledger` does the rest (validate, derive,
chain) inside :meth:`Backend.write_transaction`, which must serialise writers
across processes. ``tests/test_store_contract.py`` is the contract every
backend runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Literal, NamedTuple, Protocol

import msgspec

from ..errors import LedgerError

__all__ = ["Backend", "FeedRow", "Mode", "ResultRow", "Snapshot", "StatusRow", "StoredEvent", "TraceRow"]

#: How a backend opens its store: ``create`` (for writing, creating it if missing),
#: ``write`` (for writing, an existing store) or ``read`` (read-only, an existing store).
Mode = Literal["write", "create", "read"]


class StoredEvent(msgspec.Struct, frozen=True):
    """One fact of the log, as a backend stores it."""

    seq: int
    #: The event type, the time (fixed-width RFC 3339, sortable as text), the
    #: device it names and its idempotency key: copies of payload fields, so
    #: that SQL can filter on them. ``verify`` checks they match the payload.
    type: str
    at: str
    device: str | None
    idempotency_key: str | None
    #: The schema version of the payload.
    schema_version: int
    #: The canonical JSON of the sealed event: what the hash chain covers.
    payload: str
    #: SHA-256 (hex) over the previous row's hash and this row's seq and payload.
    hash: str


class ResultRow(NamedTuple):
    """The projection: what replay derived for one event.

    A plain tuple, in the order of the stored columns: written with
    ``executemany`` and compared with the rows read back as they are.
    """

    seq: int
    result: str
    reason: str | None
    #: What the checks compared (JSON), to answer "why".
    detail: str | None
    #: The seqs of the earlier events the result rests on (a JSON array; None when there are none).
    evidence: str | None = None


class StatusRow(NamedTuple):
    """The projection: a device's state right after an event that concerns it.

    One per event naming a device, and one per device that a CodeBlocked
    blocked (the event does not name them). ``state`` is always there;
    ``status`` (the rest of the status, ``projection.pack_status``) only
    where it differs from the device's previous row, else None.
    """

    device: str
    seq: int
    state: str
    status: bytes | None


class TraceRow(msgspec.Struct, frozen=True):
    """One event of a device's story: the fact, its result, the device's state after it."""

    seq: int
    type: str
    at: str
    result: str
    reason: str | None
    detail: str | None
    state: str
    evidence: str | None = None


class FeedRow(StoredEvent, frozen=True):
    """One fact with its result, for followers of the log."""

    result: str
    reason: str | None
    detail: str | None
    evidence: str | None = None


class Snapshot(msgspec.Struct, frozen=True):
    """A saved world: trusted only when its chain hash and format match."""

    seq: int
    #: The chain hash of event ``seq`` when the snapshot was taken.
    chain_hash: str
    #: The snapshot format it was written in (``engine`` snapshot format).
    format: int
    world: bytes


class Backend(Protocol):
    """Storage for the log and its projection."""

    #: The exceptions the backend's calls raise for a damaged, locked or unwritable store.
    errors: tuple[type[Exception], ...]

    def translate(self, exc: Exception) -> LedgerError:
        """One line naming the store and what is wrong, for an exception in :attr:`errors`."""
        ...

    #: The store schema version the store had when opened.
    found_version: int

    @property
    def needs_migration(self) -> bool:
        """True when the store was written by an older schema (the Ledger migrates it)."""
        ...

    def migrate_facts(self) -> None:
        """Move an older store's facts to the current schema (inside a write transaction)."""
        ...

    def write_transaction(self) -> AbstractContextManager[None]:
        """Hold the single writer lock; commit on success, roll back on error."""
        ...

    def read_transaction(self) -> AbstractContextManager[None]:
        """Make every read until the end of the block see one consistent state of the store."""
        ...

    def head(self) -> tuple[int, str | None]:
        """The last seq (0 when empty) and its hash."""
        ...

    def insert(self, events: list[StoredEvent], results: list[ResultRow], statuses: list[StatusRow]) -> None:
        """Store facts and their projection (inside a write transaction)."""
        ...

    def events(self, after: int = 0, limit: int | None = None) -> Iterator[StoredEvent]:
        """Facts in seq order, from ``after + 1``."""
        ...

    def fact_rows(self) -> Iterator[tuple[int, str, str, str | None, str | None, int, str, str]]:
        """Every fact as a tuple in the order of :class:`StoredEvent`'s fields, in seq order (for verify)."""
        ...

    def feed(self, after: int = 0, limit: int | None = None) -> list[FeedRow]:
        """Facts with their results in seq order, from ``after + 1``."""
        ...

    def payloads(self, after: int = 0, at_most: str | None = None) -> Iterator[tuple[int, str]]:
        """(schema version, payload) in seq order: what replay needs, streamed."""
        ...

    def numbered_payloads(self, after: int = 0) -> Iterator[tuple[int, int, str]]:
        """(seq, schema version, payload) in seq order."""
        ...

    def results(self, after: int = 0) -> Iterator[tuple[int, str, str | None, str | None, str | None]]:
        """Every stored result ``(seq, result, reason, detail, evidence)`` from seq ``after + 1``, in
        seq order."""
        ...

    def statuses(self) -> Iterator[tuple[str, int, str, bytes | None]]:
        """Every stored status row ``(device, seq, state, status)``, in (seq, device) order."""
        ...

    def by_key(self, device: str | None, key: str) -> StoredEvent | None:
        """The event stored under an idempotency key, in the scope of ``device``."""
        ...

    def result_of(self, seq: int) -> ResultRow | None:
        """The stored result of one event."""
        ...

    def device_status(self, device: str, at_most: str) -> tuple[int, str, bytes] | None:
        """The device's latest ``(seq, state, status)`` at or before a time (one indexed read).

        ``status`` is the last one stored for the device up to that row.
        """
        ...

    def latest_status(self, device: str) -> bytes | None:
        """The last ``status`` stored for a device (None for a device without rows)."""
        ...

    def device_trace(
        self, device: str, after_at: str | None = None, at_most: str | None = None
    ) -> list[TraceRow]:
        """Every event that concerns a device (after ``after_at``, at or before ``at_most``),
        with its result and the state after, in order."""
        ...

    def replace_projection(self, rows: Iterable[tuple[ResultRow, list[StatusRow]]]) -> None:
        """Drop the projection and store ``rows`` instead (inside a write transaction)."""
        ...

    def snapshot(self, up_to: int | None = None) -> Snapshot | None:
        """The latest saved world (at or before seq ``up_to``)."""
        ...

    def snapshot_seqs(self) -> list[int]:
        """The seqs of the saved worlds, ascending."""
        ...

    def save_snapshot(self, snapshot: Snapshot, keep: int = 1) -> None:
        """Save a world, keeping only the ``keep`` latest (inside a write transaction)."""
        ...

    #: True when the derived tables were written by an earlier version (``rebuild`` renews them).
    projection_outdated: bool

    # --- forensics: indexed reads of the projection ----------------------------------

    def seq_at(self, at_most: str) -> int:
        """The last seq whose time is at or before ``at_most`` (0: none)."""
        ...

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
        """The device's status rows ``(seq, at, state, status)`` after seq ``after`` up to ``up_to``,
        in seq order; only those in ``state``, or after an event with that ``result`` and ``reason``.
        ``at`` is the event's time; ``status`` the last one stored for the device up to the row."""
        ...

    def status_before(self, device: str, up_to: int) -> tuple[int, str, str, bytes] | None:
        """The device's latest status row ``(seq, at, state, status)`` at or before seq ``up_to``."""
        ...

    def latest_statuses(self, devices: list[str], up_to: int) -> dict[str, tuple[str, bytes]]:
        """Each device's latest ``(state, status)`` at or before seq ``up_to``; devices without one
        left out."""
        ...

    def states(
        self, up_to: int, state: str | None = None, after: str = "", limit: int | None = None
    ) -> list[tuple[str, str]]:
        """Each device's state after its last event up to seq ``up_to``, by device name after
        ``after``; only those in ``state``; at most ``limit``."""
        ...

    def close(self) -> None: ...

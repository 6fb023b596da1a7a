"""The interface every storage backend implements.

A backend stores rows and answers queries about them; it knows no rule. The
:class:`~license_ledger.ledger.Ledger` does the rest (validate, derive
results, chain hashes) inside :meth:`Backend.write_transaction`, which must
serialise writers across processes. ``tests/test_store_contract.py`` is the
contract every backend runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Protocol

import msgspec

__all__ = ["Backend", "Effect", "StoredEvent"]


class StoredEvent(msgspec.Struct, frozen=True):
    """One row of the log, as a backend stores it."""

    seq: int
    #: The event type, the time (fixed-width RFC 3339, sortable as text), the
    #: device it names and its idempotency key: copies of payload fields, so
    #: that SQL can filter on them. ``verify`` checks they match the payload.
    type: str
    at: str
    device: str | None
    id: str | None
    #: The schema version of the payload.
    v: int
    #: The canonical JSON of the sealed event: what the hash chain covers.
    payload: str
    #: SHA-256 (hex) over the previous row's hash and this row's seq and payload.
    hash: str
    #: The projection: derived by replay, checked by ``verify``.
    result: str
    reason: str | None
    detail: str | None
    #: The device's status right after this event (JSON), for events naming a device.
    status: str | None


class Effect(msgspec.Struct, frozen=True):
    """A device changed by an event that does not name it (CodeBlocked)."""

    seq: int
    device: str
    at: str
    status: str


class Backend(Protocol):
    """Storage for the log and its projection."""

    def write_transaction(self) -> AbstractContextManager[None]:
        """Hold the single writer lock; commit on success, roll back on error."""
        ...

    def head(self) -> tuple[int, str | None]:
        """The last seq (0 when empty) and its hash."""
        ...

    def insert(self, events: list[StoredEvent], effects: list[Effect]) -> None:
        """Store rows (inside a write transaction)."""
        ...

    def events(self, after: int = 0, limit: int | None = None) -> Iterator[StoredEvent]:
        """Rows in seq order, from ``after + 1``."""
        ...

    def payloads(self, after: int = 0, at_most: str | None = None) -> Iterator[tuple[int, str]]:
        """(schema version, payload) in seq order: what replay needs, streamed."""
        ...

    def effects(self) -> Iterator[Effect]:
        """Every effect row, in (seq, device) order."""
        ...

    def by_id(self, event_id: str) -> StoredEvent | None:
        """The row stored under an idempotency key."""
        ...

    def device_status(self, device: str, at_most: str) -> tuple[int, str] | None:
        """The device's latest status row at or before a time, with its seq."""
        ...

    def device_rows(self, device: str) -> list[tuple[StoredEvent, str]]:
        """Every row that concerns a device, with its status after, in order."""
        ...

    def snapshot(self) -> tuple[int, bytes] | None:
        """The latest world snapshot and the seq it was taken at."""
        ...

    def save_snapshot(self, seq: int, data: bytes) -> None:
        """Replace the snapshot (inside a write transaction)."""
        ...

    def close(self) -> None: ...

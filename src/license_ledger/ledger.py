"""The embedded API: open a store, append what happens, ask for status.

An append is one write transaction: take the writer lock, bring the
in-memory world up to the log's head (other processes may have appended),
check and apply the whole batch, write it with its hash chain and projection,
commit. A refused event refuses the batch and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import msgspec

from .engine.codec import decode_numbered_lines, decode_stored, encode, event_from_object, seal, stamp
from .engine.events import AnyEvent, CodeBlocked, Event
from .engine.moments import format_time, moment, parse_moment, sortable_time, utc_now
from .engine.queries import due_expiries
from .engine.snapshot import dump as dump_snapshot
from .engine.snapshot import load as load_snapshot
from .engine.views import Appended, DeviceStatus, Outcome, StoredStatus, TraceEntry, stored_status
from .engine.world import World
from .errors import InputRefused, UnknownDevice
from .store import audit
from .store.chain import GENESIS, link
from .store.protocol import Backend, Effect, StoredEvent
from .store.sqlite import SQLiteBackend

__all__ = ["Ledger"]

_json = msgspec.json.Encoder()
_status_decoder = msgspec.json.Decoder(StoredStatus)
_detail_decoder = msgspec.json.Decoder(dict[str, Any])

#: Take a snapshot of the world every this many events, so that opening a big
#: log for writing does not replay it from the start.
SNAPSHOT_EVERY = 100_000


class Ledger:
    """A license ledger: the log, its rules and its projection."""

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Callable[[], datetime] = utc_now,
        snapshot_every: int = SNAPSHOT_EVERY,
    ) -> None:
        self._backend = backend
        self._clock = clock
        self._snapshot_every = snapshot_every
        self._world: World | None = None
        self._snapshot_seq = 0

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        create: bool = True,
        clock: Callable[[], datetime] = utc_now,
        synchronous: str = "FULL",
        snapshot_every: int = SNAPSHOT_EVERY,
    ) -> Ledger:
        """Open the ledger at ``path``, creating file and tables if ``create``."""
        backend = SQLiteBackend(path, create=create, synchronous=synchronous)
        return cls(backend, clock=clock, snapshot_every=snapshot_every)

    @property
    def backend(self) -> Backend:
        return self._backend

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- appending ---------------------------------------------------------

    def append(self, events: Iterable[Event | dict[str, Any]]) -> list[Appended]:
        """Append events (Structs or dicts), all or nothing; return each one's result."""
        numbered = [(n, event_from_object(e, line=n)) for n, e in enumerate(events, start=1)]
        return self._append(numbered)

    def append_lines(self, lines: Iterable[str | bytes]) -> list[Appended]:
        """Append JSON lines (blank lines skipped); a refusal names the line."""
        return self._append(list(decode_numbered_lines(lines)))

    def tick(self, now: datetime | str | None = None) -> list[Appended]:
        """Append a LicenseExpired, at ``now``, for every active license due by then."""
        now = moment(now, field="now")

        def due(world: World) -> list[tuple[int, AnyEvent]]:
            when = now if now is not None else self._stamp_time(world)
            if world.last_at is not None and when < world.last_at:
                raise InputRefused(
                    f"a time at or after {format_time(world.last_at)} (the last event's)",
                    format_time(when),
                    field="now",
                )
            return list(enumerate(due_expiries(world, when), start=1))

        return self._write(due)

    def _append(self, numbered: list[tuple[int, AnyEvent]]) -> list[Appended]:
        # Stateless checks first: a malformed batch never takes the lock.
        sealed = [(line, seal(event, line=line)) for line, event in numbered]
        return self._write(lambda world: sealed)

    def _write(self, make_batch: Callable[[World], list[tuple[int, AnyEvent]]]) -> list[Appended]:
        world: World | None = None
        try:
            with self._backend.write_transaction():
                world, head_hash = self._caught_up()
                world.begin()
                appended = self._write_batch(world, head_hash, make_batch(world))
        except BaseException:
            if world is not None and world.in_batch:
                world.rollback()
            raise
        assert world is not None
        world.commit()
        return appended

    def _write_batch(
        self, world: World, head_hash: str | None, batch: list[tuple[int, AnyEvent]]
    ) -> list[Appended]:
        seq, previous = world.count, head_hash or GENESIS
        rows: list[StoredEvent] = []
        effects: list[Effect] = []
        appended: list[Appended] = []
        in_batch: dict[str, StoredEvent] = {}
        for line, event in batch:
            if event.id is not None:
                known = in_batch.get(event.id) or self._backend.by_id(event.id)
                if known is not None:
                    appended.append(_repeat(event, known, line))
                    continue
            if event.at is None:
                event = stamp(event, self._stamp_time(world))
            try:
                world.check(event)
            except InputRefused as refused:
                raise refused.at_line(line) from None
            outcome = world.apply(event)
            seq += 1
            row = self._row(world, seq, previous, event, outcome, effects)
            previous = row.hash
            rows.append(row)
            if event.id is not None:
                in_batch[event.id] = row
            assert event.at is not None
            appended.append(Appended(seq, row.type, event.at, outcome.result, outcome.reason, outcome.detail))
        self._backend.insert(rows, effects)
        if world.count - self._snapshot_seq >= self._snapshot_every:
            self._backend.save_snapshot(world.count, dump_snapshot(world))
            self._snapshot_seq = world.count
        return appended

    def _row(
        self, world: World, seq: int, previous: str, event: AnyEvent, outcome: Outcome, effects: list[Effect]
    ) -> StoredEvent:
        payload = encode(event).decode()
        assert event.at is not None
        at = sortable_time(event.at)
        device = getattr(event, "device", None)
        status = None
        if device is not None:
            status = _json.encode(stored_status(world.devices[device], world.codes)).decode()
        if isinstance(event, CodeBlocked) and outcome.detail:
            for blocked in outcome.detail["blocked_devices"]:
                state = stored_status(world.devices[blocked], world.codes)
                effects.append(Effect(seq, blocked, at, _json.encode(state).decode()))
        detail = None if outcome.detail is None else _json.encode(outcome.detail).decode()
        # Positional: (seq, type, at, device, id, v, payload, hash, result, reason, detail, status).
        return StoredEvent(
            seq,
            type(event).__name__,
            at,
            device,
            event.id,
            event.v,
            payload,
            link(previous, seq, payload),
            outcome.result,
            outcome.reason,
            detail,
            status,
        )

    def _stamp_time(self, world: World) -> datetime:
        # Never earlier than the last event: concurrent appenders must not
        # trip the time-order rule because their clocks differ a little.
        now = self._clock()
        return now if world.last_at is None or now >= world.last_at else world.last_at

    def _caught_up(self) -> tuple[World, str | None]:
        """The world as of the log's head, and the head's hash (call inside the write transaction)."""
        if self._world is None:
            world = World()
            snapshot = self._backend.snapshot()
            if snapshot is not None:
                self._snapshot_seq, data = snapshot
                world = load_snapshot(data)
            self._world = world
        head, head_hash = self._backend.head()
        if head < self._world.count:
            # The file was replaced by a shorter copy behind our back: start over.
            self._world, self._snapshot_seq = None, 0
            return self._caught_up()
        if head != self._world.count:
            audit.replay_into(self._world, self._backend.payloads(after=self._world.count))
        return self._world, head_hash

    # --- reading -------------------------------------------------------------

    def status(self, device: str, as_of: datetime | str | None = None) -> DeviceStatus:
        """The device's status as of ``as_of`` (default: now; RFC 3339 text or datetime)."""
        when = moment(as_of, field="as_of") or self._clock()
        found = self._backend.device_status(device, sortable_time(when))
        if found is None:
            raise UnknownDevice(device, format_time(when))
        return _status_decoder.decode(found[1]).at(device, when)

    def trace(self, device: str) -> list[TraceEntry]:
        """Every event that concerns the device, its result and the state after it."""
        rows = self._backend.device_rows(device)
        if not rows:
            raise UnknownDevice(device)
        return [
            TraceEntry(
                seq=row.seq,
                type=row.type,
                at=parse_moment(row.at, field="at"),
                result=row.result,
                reason=row.reason,
                detail=None if row.detail is None else _detail_decoder.decode(row.detail),
                state=_status_decoder.decode(status).state,
            )
            for row, status in rows
        ]

    def events(self, after: int = 0, limit: int | None = None) -> list[StoredEvent]:
        """Stored rows in order, after a seq (a feed for followers)."""
        return list(self._backend.events(after=after, limit=limit))

    def export(self) -> Iterator[str]:
        """The log as JSON lines that ``append`` accepts into a fresh store."""
        for _, payload in self._backend.payloads():
            yield payload

    def replay(
        self, as_of: datetime | str | None = None, progress: Callable[[int], None] | None = None
    ) -> audit.ReplaySummary:
        """Replay the whole log from scratch (ignoring the projection) and summarise."""
        return audit.summarise(self._backend, as_of=moment(as_of, field="as_of"), progress=progress)

    def verify(self, expect_head: tuple[int, str] | None = None) -> audit.VerifyReport:
        """Check the chain, the projection and the snapshot against a full replay."""
        return audit.verify(self._backend, expect_head=expect_head)

    def world(self) -> World:
        """The world as of the log's head (replayed or restored, kept in memory)."""
        with self._backend.write_transaction():
            return self._caught_up()[0]


def _repeat(event: AnyEvent, known: StoredEvent, line: int) -> Appended:
    """An event whose id is stored: the same content answers, other content is refused."""
    stored = decode_stored(known.payload, known.v)
    assert stored.at is not None
    candidate = event if event.at is not None else stamp(event, stored.at)
    if encode(candidate).decode() != known.payload:
        raise InputRefused(
            f"the same content as event {known.seq}, stored under this id",
            "different content",
            field="$.id",
            line=line,
            event_type=type(event).__name__,
        )
    detail = None if known.detail is None else _detail_decoder.decode(known.detail)
    return Appended(known.seq, known.type, stored.at, known.result, known.reason, detail, stored=False)

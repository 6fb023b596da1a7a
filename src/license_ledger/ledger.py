"""The embedded API: open a store, append what happens, ask for status.

An append is one write transaction: take the writer lock, bring the
in-memory world up to the log's head (other processes may have appended),
check and apply the whole batch, write its facts with their hash chain and
their projection, commit. A refused event refuses the batch and nothing is
written.

Layer: above the store and the engine; the service and the command line
call it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import msgspec

from .engine.codec import decode_numbered_lines, decode_stored, encode, event_from_object, seal, stamp
from .engine.events import AnyEvent, Event
from .engine.moments import format_time, moment, sortable_time, utc_now
from .engine.queries import due_expiries
from .engine.views import Appended, DeviceStatus, StoredStatus, TraceEntry
from .engine.world import World
from .errors import DamagedLedger, InputRefused, NeedsMigration, UnknownDevice
from .forensics import Forensics, decode_evidence, time_range, trace_entries
from .forensics import translated as _translated
from .store import audit
from .store.chain import GENESIS, link
from .store.projection import derive
from .store.protocol import Backend, FeedRow, ResultRow, StatusRow, StoredEvent
from .store.sqlite import Mode, SQLiteBackend

__all__ = ["Ledger", "MigrationReport"]

_status_decoder = msgspec.json.Decoder(StoredStatus)
_detail_decoder = msgspec.json.Decoder(dict[str, Any])

#: Take a snapshot of the world every this many events, so that opening a big
#: log for writing does not replay it from the start.
SNAPSHOT_EVERY = 100_000

#: How many snapshots a store keeps (the latest): a what-if starts from the last one
#: before its first change, so a change near the end of a long log costs little.
SNAPSHOTS_KEPT = 2


class MigrationReport(msgspec.Struct, frozen=True):
    """What opening an older store did: the schema it had, and the chain head (unchanged)."""

    from_version: int
    to_version: int
    events: int
    head_seq: int
    head_hash: str | None


class Ledger(Forensics):
    """A license ledger: the log, its rules and its projection (and the forensic questions of
    :class:`~license_ledger.forensics.Forensics`)."""

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
        #: Set when opening migrated an older store.
        self.migrated: MigrationReport | None = None

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        create: bool = True,
        read_only: bool = False,
        clock: Callable[[], datetime] = utc_now,
        synchronous: str = "FULL",
        snapshot_every: int = SNAPSHOT_EVERY,
        progress: Callable[[int], None] | None = None,
    ) -> Ledger:
        """Open the ledger at ``path``.

        ``create``: create the file and its tables if missing. ``read_only``:
        never write (not even a migration: an older file is refused, saying
        that it needs ``migrate``). Opening an older file for writing
        migrates it, in one transaction (``progress`` hears of the events
        re-derived).
        """
        mode: Mode = "read" if read_only else "create" if create else "write"
        backend = SQLiteBackend(path, mode=mode, synchronous=synchronous)
        ledger = cls(backend, clock=clock, snapshot_every=snapshot_every)
        if backend.needs_migration:
            try:
                ledger._migrate(progress)
            except BaseException:
                backend.close()
                raise
        return ledger

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
        given = moment(now, field="now")

        def due(world: World) -> list[tuple[int, AnyEvent]]:
            when = given if given is not None else self._stamp_time(world)
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

    @_translated
    def _write(self, make_batch: Callable[[World], list[tuple[int, AnyEvent]]]) -> list[Appended]:
        world: World | None = None
        if self._backend.projection_outdated:
            raise NeedsMigration(
                f"{getattr(self._backend, 'path', 'the store')}: its results were derived by an earlier "
                "license-ledger (without evidence); run `license-ledger rebuild` on it first "
                "(it keeps every event and the chain head)"
            )
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
        facts: list[StoredEvent] = []
        results: list[ResultRow] = []
        statuses: list[StatusRow] = []
        appended: list[Appended] = []
        in_batch: dict[tuple[str | None, str], tuple[StoredEvent, ResultRow]] = {}
        for line, event in batch:
            device: str | None = getattr(event, "device", None)
            if event.id is not None:
                known = in_batch.get((device, event.id)) or self._stored_under(device, event.id)
                if known is not None:
                    appended.append(_repeat(event, *known, line))
                    continue
            if event.at is None:
                event = stamp(event, self._stamp_time(world))
            try:
                world.check(event)
            except InputRefused as refused:
                raise refused.at_line(line) from None
            outcome = world.apply(event)
            seq += 1
            payload = encode(event).decode()
            assert event.at is not None
            fact = StoredEvent(
                seq,
                type(event).__name__,
                sortable_time(event.at),
                device,
                event.id,
                event.v,
                payload,
                link(previous, seq, payload),
            )
            previous = fact.hash
            result, changed = derive(world, seq, event, outcome)
            facts.append(fact)
            results.append(result)
            statuses.extend(changed)
            if event.id is not None:
                in_batch[device, event.id] = (fact, result)
            appended.append(
                Appended(
                    seq,
                    fact.type,
                    event.at,
                    outcome.result,
                    outcome.reason,
                    outcome.detail,
                    evidence=outcome.evidence,
                )
            )
        self._backend.insert(facts, results, statuses)
        if facts and world.count - self._snapshot_seq >= self._snapshot_every:
            self._backend.save_snapshot(audit.make_snapshot(world, previous), SNAPSHOTS_KEPT)
            self._snapshot_seq = world.count
        return appended

    def _stored_under(self, device: str | None, key: str) -> tuple[StoredEvent, ResultRow] | None:
        """The event and result stored under an idempotency key in the scope of ``device``."""
        known = self._backend.by_key(device, key)
        if known is None:
            return None
        result = self._backend.result_of(known.seq)
        assert result is not None, "every stored event has a result"
        return known, result

    def _stamp_time(self, world: World) -> datetime:
        # Never earlier than the last event: concurrent appenders must not
        # trip the time-order rule because their clocks differ a little.
        now = self._clock()
        return now if world.last_at is None or now >= world.last_at else world.last_at

    def _caught_up(self) -> tuple[World, str | None]:
        """The world as of the log's head, and the head's hash (call inside a transaction)."""
        head, head_hash = self._backend.head()
        if self._world is not None and head < self._world.count:
            # The file was replaced by a shorter copy behind our back: start over.
            self._world, self._snapshot_seq = None, 0
        if self._world is None:
            snapshot = self._backend.snapshot()
            restored = audit.load_snapshot(self._backend, snapshot)
            self._world = restored if restored is not None else World()
            self._snapshot_seq = self._world.count
        if head != self._world.count:
            audit.replay_into(self._world, self._backend.payloads(after=self._world.count))
        return self._world, head_hash

    # --- keeping the projection ----------------------------------------------

    @_translated
    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Throw the projection away and derive it anew from the log, in one transaction.

        Returns the number of events replayed. The facts, and so the chain
        head, are untouched.
        """
        with self._backend.write_transaction():
            world = audit.rebuild(
                self._backend, progress, snapshot_every=self._snapshot_every, keep=SNAPSHOTS_KEPT
            )
        self._world, self._snapshot_seq = world, world.count
        return world.count

    @_translated
    def _migrate(self, progress: Callable[[int], None] | None) -> None:
        backend = self._backend
        with backend.write_transaction():
            found = backend.found_version
            backend.migrate_facts()
            world = audit.rebuild(backend, progress, snapshot_every=self._snapshot_every, keep=SNAPSHOTS_KEPT)
            head, head_hash = backend.head()
        self._world, self._snapshot_seq = world, world.count
        self.migrated = MigrationReport(found, backend.found_version, head, head, head_hash)

    # --- reading -------------------------------------------------------------

    @_translated
    def status(self, device: str, as_of: datetime | str | None = None) -> DeviceStatus:
        """The device's status as of ``as_of`` (default: now; RFC 3339 text or datetime)."""
        when = moment(as_of, field="as_of") or self._clock()
        found = self._backend.device_status(device, sortable_time(when))
        if found is None:
            raise UnknownDevice(device, format_time(when))
        return _status_decoder.decode(found[1]).at(device, when)

    @_translated
    def trace(
        self, device: str, since: datetime | str | None = None, until: datetime | str | None = None
    ) -> list[TraceEntry]:
        """Every event that concerns the device (after ``since``, up to ``until``), its result, its
        evidence and the state after it."""
        after_at, at_most = time_range(since, until)
        rows = self._backend.device_trace(device, after_at, at_most)
        if not rows and (since is None and until is None or self._backend.device_status(device, "~") is None):
            raise UnknownDevice(device)
        return trace_entries(rows)

    @_translated
    def events(self, after: int = 0, limit: int | None = None) -> list[FeedRow]:
        """Stored events with their results in order, after a seq (a feed for followers)."""
        return self._backend.feed(after=after, limit=limit)

    def export(self) -> Iterator[str]:
        """The log as JSON lines that ``append`` accepts into a fresh store."""
        backend = self._backend
        try:
            with backend.read_transaction():
                for _, payload in backend.payloads():
                    yield payload
        except backend.errors as exc:
            raise backend.translate(exc) from None

    @_translated
    def replay(
        self, as_of: datetime | str | None = None, progress: Callable[[int], None] | None = None
    ) -> audit.ReplaySummary:
        """Replay the whole log from scratch (ignoring the projection) and summarise."""
        when = moment(as_of, field="as_of")
        with self._backend.read_transaction():
            return audit.summarise(self._backend, as_of=when, progress=progress)

    def verify(self, expect_head: tuple[int, str] | None = None) -> audit.VerifyReport:
        """Check the chain, the projection and the snapshot against a full replay.

        A damaged file is a finding, not an error: the report says so.
        """
        try:
            return self._verify(expect_head)
        except DamagedLedger as damaged:
            head_seq = 0
            return audit.VerifyReport(False, 0, head_seq, None, first_bad_seq=None, problem=str(damaged))

    @_translated
    def _verify(self, expect_head: tuple[int, str] | None) -> audit.VerifyReport:
        return audit.verify(self._backend, expect_head=expect_head)

    @_translated
    def world(self) -> World:
        """The world as of the log's head (replayed or restored, kept in memory)."""
        with self._backend.read_transaction():
            return self._caught_up()[0]


def _repeat(event: AnyEvent, known: StoredEvent, result: ResultRow, line: int) -> Appended:
    """An event whose key is stored: the same content answers, other content is refused."""
    stored = decode_stored(known.payload, known.schema_version)
    assert stored.at is not None
    candidate = event if event.at is not None else stamp(event, stored.at)
    if encode(candidate).decode() != known.payload:
        raise InputRefused(
            f"the same content as event {known.seq}, stored under this idempotency key",
            "different content",
            field="$.id",
            line=line,
            event_type=type(event).__name__,
        )
    detail = None if result.detail is None else _detail_decoder.decode(result.detail)
    evidence = decode_evidence(result.evidence)
    return Appended(
        known.seq,
        known.type,
        stored.at,
        result.result,
        result.reason,
        detail,
        stored=False,
        evidence=evidence,
    )

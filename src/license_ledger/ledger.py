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

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

import msgspec

from .engine.codec import decode_numbered_lines, event_from_object
from .engine.events import AnyEvent, Event
from .engine.moments import format_time, moment, sortable_time, utc_now
from .engine.queries import due_expiries
from .engine.views import Appended, DeviceStatus, TraceEntry
from .engine.world import World
from .errors import DamagedLedger, InputRefused, UnknownDevice
from .forensics import Forensics, time_range, trace_entries
from .forensics import translated as _translated
from .store import audit, transfer
from .store.open import open_backend
from .store.projection import LastStatus, unpack_status
from .store.protocol import Backend, FeedRow, Mode
from .writing import SNAPSHOTS_KEPT, Writing

__all__ = ["Ledger", "MigrationReport"]

_detail_decoder = msgspec.json.Decoder(dict[str, Any])

#: Take a snapshot of the world every this many events, so that opening a big
#: log for writing does not replay it from the start.
SNAPSHOT_EVERY = 100_000


class MigrationReport(msgspec.Struct, frozen=True):
    """What opening an older store did: the schema it had, and the chain head (unchanged)."""

    from_version: int
    to_version: int
    events: int
    head_seq: int
    head_hash: str | None


class Ledger(Writing, Forensics):
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
        #: The status stored last for each device the world saw, to store only changes.
        self._last = LastStatus(backend.latest_status)
        #: Set when opening migrated an older store.
        self.migrated: MigrationReport | None = None

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        create: bool = True,
        read_only: bool = False,
        clock: Callable[[], datetime] = utc_now,
        synchronous: str = "FULL",
        snapshot_every: int = SNAPSHOT_EVERY,
        progress: Callable[[int], None] | None = None,
    ) -> Ledger:
        """Open the ledger at ``path``: an SQLite file, or a ``postgresql://`` URL.

        A URL names a PostgreSQL database, and ``?schema=NAME`` the schema
        that holds the ledger (default ``license_ledger``; see
        ``docs/postgres.md``). ``create``: create the file and its tables if missing. ``read_only``:
        never write (not even a migration: an older file is refused, saying
        that it needs ``migrate``). Opening an older file for writing
        migrates it, in one transaction (``progress`` hears of the events
        re-derived).
        """
        mode: Mode = "read" if read_only else "create" if create else "write"
        backend = open_backend(path, mode=mode, synchronous=synchronous)
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

    def append_many(
        self, batches: Iterable[Iterable[Event | dict[str, Any]]]
    ) -> list[list[Appended] | InputRefused]:
        """Append several independent batches in one transaction: a group commit.

        Each batch is all or nothing, as with :meth:`append`, and is checked
        against the state the batches before it left; its answer is its
        results, or the :class:`InputRefused` that :meth:`append` would have
        raised for it (then nothing of it is stored, and the other batches
        are not disturbed). One commit, and so one wait for the disk, for
        all of them. An error that is not a refusal (the store fails) fails
        the whole group: it is raised and nothing is stored.

        ``batches`` is read once the writer lock is held: a committer that
        hands over a generator gives the group every batch that arrived
        while it waited for the lock.
        """
        return self._write_group(batches)

    def append_lines(
        self, lines: Iterable[str | bytes], progress: Callable[[int], None] | None = None
    ) -> list[Appended]:
        """Append JSON lines (blank lines skipped); a refusal names the line.

        ``progress`` hears of the events applied, ten thousand at a time.
        """
        given = lines if isinstance(lines, Sequence) else list(lines)  # a refusal looks at the whole
        return self._append(list(decode_numbered_lines(given)), progress)

    def tick(
        self, now: datetime | str | None = None, progress: Callable[[int], None] | None = None
    ) -> list[Appended]:
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

        return self._write(due, progress)

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
        self._last.forget()
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
        self._last.forget()
        self.migrated = MigrationReport(found, backend.found_version, head, head, head_hash)

    # --- following and moving the log ------------------------------------------

    def wait_for(self, seq: int, timeout: float = 30.0, poll_every: float = 0.5) -> int:
        """Wait until the log's head reaches ``seq`` (appended by any process or node); return the head.

        Returns earlier than ``seq`` when ``timeout`` seconds pass first. For
        a follower of the log (``events(after=...)``) that wants new events as
        they land instead of asking again and again. On PostgreSQL it wakes on
        the notification every append sends at commit, on a session of its own
        (so another thread may wait while this one appends), and reads the head
        every ``poll_every`` seconds too, in case a notification is missed. On
        SQLite it reads the head every ``poll_every`` seconds. Reads never need
        it: status and trace read what the append transaction committed.
        """
        backend = self._backend
        try:
            waiter = getattr(backend, "wait_for_head", None)
            if waiter is not None:
                return int(waiter(seq, timeout, poll_every))
            deadline = time.monotonic() + timeout
            while True:
                head = backend.head()[0]
                left = deadline - time.monotonic()
                if head >= seq or left <= 0:
                    return head
                time.sleep(min(left, poll_every))
        except backend.errors as exc:
            raise backend.translate(exc) from None

    def copy_to(
        self, location: str | os.PathLike[str], progress: Callable[[int], None] | None = None
    ) -> audit.VerifyReport:
        """Copy the log into an empty store at ``location`` (a file or a URL), then verify the copy.

        The facts go over as they are (seq, times, payloads, chain hashes),
        and the target derives its projection anew, in the same transaction.
        A target that holds events is refused. Returns the target's verify
        report; its head is this log's head.
        """
        target = open_backend(location, mode="create")
        try:
            transfer.copy_log(self._backend, target, progress)
        finally:
            target.close()
        with Ledger.open(location, read_only=True) as copy:
            return copy.verify()

    # --- reading -------------------------------------------------------------

    @_translated
    def status(self, device: str, as_of: datetime | str | None = None) -> DeviceStatus:
        """The device's status as of ``as_of`` (default: now; RFC 3339 text or datetime)."""
        when = moment(as_of, field="as_of") or self._clock()
        found = self._backend.device_status(device, sortable_time(when))
        if found is None:
            raise UnknownDevice(device, format_time(when))
        seq, state, packed = found
        try:
            stored = unpack_status(state, packed)
        except (msgspec.DecodeError, msgspec.ValidationError, TypeError) as exc:
            raise DamagedLedger(f"the status of {device} after seq {seq} does not decode ({exc})") from None
        return stored.at(device, when)

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

    def verify(
        self, expect_head: tuple[int, str] | None = None, progress: Callable[[int], None] | None = None
    ) -> audit.VerifyReport:
        """Check the chain, the projection and the snapshot against a full replay.

        A damaged file is a finding, not an error: the report says so.
        ``progress`` hears of the events checked.
        """
        try:
            return self._verify(expect_head, progress)
        except DamagedLedger as damaged:
            head_seq = 0
            return audit.VerifyReport(False, 0, head_seq, None, first_bad_seq=None, problem=str(damaged))

    @_translated
    def _verify(
        self, expect_head: tuple[int, str] | None, progress: Callable[[int], None] | None
    ) -> audit.VerifyReport:
        return audit.verify(self._backend, expect_head=expect_head, progress=progress)

    @_translated
    def world(self) -> World:
        """The world as of the log's head (replayed or restored, kept in memory)."""
        with self._backend.read_transaction():
            return self._caught_up()[0]

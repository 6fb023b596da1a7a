"""What if: replay a log with events dropped or inserted, and compare with what was stored.

:func:`replay_with_changes` folds the stored events (from a world restored
at or before the first change) with the changes applied: every event from
the first change on is checked as an append would check it (a refusal names
its seq) and its result compared with the stored one. The statuses are
taken as of a moment, for the devices that the events from the first change
up to that moment concern, before or after the change: no other device's
status can differ. Nothing is written anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import msgspec

from ...errors import InputRefused
from ..codec import stamp
from ..events import AnyEvent, CodeBlocked
from ..queries import status
from ..views import DeviceStatus, Outcome
from ..world import World
from .views import ChangedEvent, InsertedEvent, ResultView

__all__ = ["Changes", "Run", "Stored", "replay_with_changes"]

#: A stored event: its seq, the event, its stored result (None before the first
#: change, where none is compared) and the devices that stored result concerned.
Stored = tuple[int, AnyEvent, ResultView | None, tuple[str, ...]]


class Changes(msgspec.Struct, frozen=True):
    """The events to leave out, and the events to insert after a seq (0: before the first)."""

    drop: frozenset[int] = frozenset()
    insert: dict[int, list[AnyEvent]] = msgspec.field(default_factory=dict)

    @property
    def first(self) -> int | None:
        """The seq of the first stored event the changes can affect (None: no change)."""
        seqs = [*self.drop, *(after + 1 for after in self.insert)]
        return min(seqs) if seqs else None


class Run(msgspec.Struct):
    """What a replay with changes found."""

    changed: list[ChangedEvent]
    inserted: list[InsertedEvent]
    #: The status as of the moment compared of each device that may differ (None: not registered).
    statuses: dict[str, DeviceStatus | None]


def _concerned(event: AnyEvent, outcome: Outcome) -> tuple[str, ...]:
    device: str | None = getattr(event, "device", None)
    if device is not None:
        return (device,)
    if isinstance(event, CodeBlocked) and outcome.detail is not None:
        return tuple(outcome.detail["blocked_devices"])
    return ()


class _Replay:
    def __init__(self, world: World, as_of: datetime) -> None:
        self.world = world
        self.as_of = as_of
        self.touched: set[str] = set()
        self.statuses: dict[str, DeviceStatus | None] | None = None
        self.changed: list[ChangedEvent] = []
        self.inserted: list[InsertedEvent] = []

    def reach(self, at: datetime) -> None:
        """Take the statuses when the replay passes the moment compared."""
        if self.statuses is None and at > self.as_of:
            self.take_statuses()

    def take_statuses(self) -> None:
        world, as_of = self.world, self.as_of
        self.statuses = {
            device: status(world, device, as_of) if device in world.devices else None
            for device in sorted(self.touched)
        }

    def note(self, at: datetime, devices: Iterable[str]) -> None:
        if at <= self.as_of:
            self.touched.update(devices)

    def stored(
        self, seq: int, event: AnyEvent, was: ResultView, devices: tuple[str, ...], dropped: bool
    ) -> None:
        assert event.at is not None
        self.reach(event.at)
        self.note(event.at, devices)
        device = getattr(event, "device", None)
        kind = type(event).__name__
        if dropped:
            self.changed.append(ChangedEvent(seq, kind, device, was, "dropped"))
            return
        try:
            self.world.check(event)
        except InputRefused as refused:
            raise refused.at_seq(seq) from None
        outcome = self.world.apply(event)
        self.note(event.at, _concerned(event, outcome))
        if (outcome.result, outcome.reason) != (was.result, was.reason):
            self.changed.append(
                ChangedEvent(seq, kind, device, was, ResultView(outcome.result, outcome.reason))
            )

    def insert(self, after: int, events: list[AnyEvent], at: datetime | None) -> None:
        for line, given in enumerate(events, start=1):
            event = given
            if event.at is None:
                if at is None:
                    raise InputRefused(
                        "an `at` (no event comes before seq 1 to take its time from)",
                        "none",
                        field="$.at",
                        event_type=type(event).__name__,
                    ).at_seq(after, inserted=True, line=line)
                event = stamp(event, at)
            assert event.at is not None
            self.reach(event.at)
            try:
                self.world.check(event)
            except InputRefused as refused:
                raise refused.at_seq(after, inserted=True, line=line) from None
            outcome = self.world.apply(event)
            self.note(event.at, _concerned(event, outcome))
            kind, device = type(event).__name__, getattr(event, "device", None)
            now = ResultView(outcome.result, outcome.reason)
            self.inserted.append(InsertedEvent(after, kind, device, event.at, now))


def replay_with_changes(world: World, stored: Iterable[Stored], changes: Changes, as_of: datetime) -> Run:
    """Fold ``stored`` (the events after ``world.count``, in seq order) into ``world`` with ``changes``.

    Events before the first change are applied as they are (the stored log
    is valid); from there on each is checked, and a refusal raises
    :class:`~license_ledger.errors.InputRefused` naming its seq.
    """
    first = changes.first
    replay = _Replay(world, as_of)
    if 0 in changes.insert:
        replay.insert(0, changes.insert[0], None)
    apply = world.apply
    for seq, event, was, devices in stored:
        if first is None or seq < first:
            apply(event)
        else:
            assert was is not None, "the stored result of every event from the first change on"
            replay.stored(seq, event, was, devices, seq in changes.drop)
        if seq in changes.insert:
            replay.insert(seq, changes.insert[seq], event.at)
    if replay.statuses is None:
        replay.take_statuses()
    assert replay.statuses is not None
    return Run(replay.changed, replay.inserted, replay.statuses)

"""What if: replay a log with events dropped or inserted, and compare with what was stored.

:func:`replay_with_changes` goes on from the world right before the first
change (the caller restores it from a snapshot and folds the events up to
there) with the changes applied: every event from the first change on is
checked as an append would check it (a refusal names its seq) and its result
compared with the stored one. The statuses are
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
from ..views import Outcome, StoredStatus, stored_status
from ..world import World
from .views import ChangedEvent, InsertedEvent, ResultView

__all__ = ["Changes", "Run", "Stored", "replay_with_changes"]

#: A stored event from the first change on: its seq, the event, its stored result and
#: reason, and the devices that stored result concerned.
Stored = tuple[int, AnyEvent, str, str | None, tuple[str, ...]]


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
    #: The status, as of the moment compared, of each device that may differ
    #: (before ``provisional`` is judged; None: not registered).
    statuses: dict[str, StoredStatus | None]


class _Replay:
    def __init__(self, world: World, as_of: datetime) -> None:
        self.world = world
        self.as_of = as_of
        self.touched: set[str] = set()
        self.statuses: dict[str, StoredStatus | None] | None = None
        self.changed: list[ChangedEvent] = []
        self.inserted: list[InsertedEvent] = []

    def take_statuses(self) -> None:
        """The statuses of the devices touched so far: the replay passes the moment compared."""
        devices, codes = self.world.devices, self.world.codes
        self.statuses = {
            device: stored_status(devices[device], codes) if device in devices else None
            for device in sorted(self.touched)
        }

    def note(self, at: datetime, event: AnyEvent, outcome: Outcome | None) -> None:
        if at > self.as_of:
            return
        device: str | None = getattr(event, "device", None)
        if device is not None:
            self.touched.add(device)
        elif outcome is not None and isinstance(event, CodeBlocked) and outcome.detail is not None:
            self.touched.update(outcome.detail["blocked_devices"])

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
            if self.statuses is None and event.at > self.as_of:
                self.take_statuses()
            try:
                self.world.check(event)
            except InputRefused as refused:
                raise refused.at_seq(after, inserted=True, line=line) from None
            outcome = self.world.apply(event)
            self.note(event.at, event, outcome)
            kind, device = type(event).__name__, getattr(event, "device", None)
            now = ResultView(outcome.result, outcome.reason)
            self.inserted.append(InsertedEvent(after, kind, device, event.at, now))


def replay_with_changes(world: World, stored: Iterable[Stored], changes: Changes, as_of: datetime) -> Run:
    """Go on from ``world`` (the state right before the first change) with ``changes`` applied.

    ``stored`` are the stored events from the first change on, in seq order.
    Each is checked as an append would check it, and a refusal raises
    :class:`~license_ledger.errors.InputRefused` naming its seq.
    """
    first = changes.first
    replay = _Replay(world, as_of)
    if first is None:
        return Run([], [], {})
    drop, insert = changes.drop, changes.insert
    if first - 1 in insert:
        replay.insert(first - 1, insert[first - 1], world.last_at)
    check, apply = world.check, world.apply
    touched, changed = replay.touched, replay.changed
    for seq, event, was_result, was_reason, devices in stored:
        at: datetime = event.at  # type: ignore[assignment]  # stored events are stamped
        if replay.statuses is None and at > as_of:
            replay.take_statuses()
        if seq in drop:
            if at <= as_of:
                touched.update(devices)
            kind, device = type(event).__name__, getattr(event, "device", None)
            changed.append(ChangedEvent(seq, kind, device, ResultView(was_result, was_reason), "dropped"))
        else:
            try:
                check(event)
            except InputRefused as refused:
                raise refused.at_seq(seq) from None
            outcome = apply(event)
            if outcome.result != was_result or outcome.reason != was_reason:
                kind, device = type(event).__name__, getattr(event, "device", None)
                was, now = ResultView(was_result, was_reason), ResultView(outcome.result, outcome.reason)
                changed.append(ChangedEvent(seq, kind, device, was, now))
            if at <= as_of:
                touched.update(devices)
                if outcome.detail is not None and type(event) is CodeBlocked:
                    touched.update(outcome.detail["blocked_devices"])
        if seq in insert:
            replay.insert(seq, insert[seq], at)
    if replay.statuses is None:
        replay.take_statuses()
    assert replay.statuses is not None
    return Run(replay.changed, replay.inserted, replay.statuses)

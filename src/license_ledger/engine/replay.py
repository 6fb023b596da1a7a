"""Replaying a log: results, statuses as of any moment, and a device's trace.

Pure functions over stored (sealed, stamped, time-ordered) events. The
store streams its rows into them; tests feed them lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from ..errors import UnknownDevice
from .events import CodeBlocked, Event
from .moments import format_time
from .queries import status
from .views import DeviceStatus, Outcome, TraceEntry
from .world import World

__all__ = ["concerns", "replay", "results", "status_as_of", "trace"]


def replay(events: Iterable[Event], *, as_of: datetime | None = None, world: World | None = None) -> World:
    """Fold events (up to and including ``as_of``) into a world."""
    world = World() if world is None else world
    if as_of is None:
        world.apply_all(events)
        return world
    for event in events:
        assert event.at is not None
        if event.at > as_of:
            break  # the log is in time order: nothing later can be due
        world.apply(event)
    return world


def results(events: Iterable[Event], *, world: World | None = None) -> Iterator[tuple[int, Event, Outcome]]:
    """Each event with its seq and its result, as replay derives them."""
    world = World() if world is None else world
    for event in events:
        outcome = world.apply(event)
        yield world.count, event, outcome


def concerns(event: Event, outcome: Outcome, device: str) -> bool:
    """True when the event belongs in ``device``'s trace."""
    if getattr(event, "device", None) == device:
        return True
    if isinstance(event, CodeBlocked) and outcome.detail is not None:
        return device in outcome.detail["blocked_devices"]
    return False


def trace(events: Iterable[Event], device: str, *, world: World | None = None) -> list[TraceEntry]:
    """Every event that concerns ``device``, its result, and the state after it."""
    world = World() if world is None else world
    entries = []
    for seq, event, outcome in results(events, world=world):
        if concerns(event, outcome, device):
            assert event.at is not None
            entries.append(
                TraceEntry(
                    seq=seq,
                    type=type(event).__name__,
                    at=event.at,
                    result=outcome.result,
                    reason=outcome.reason,
                    detail=outcome.detail,
                    state=world.devices[device].state,
                )
            )
    if device not in world.devices:
        raise UnknownDevice(device)
    return entries


def status_as_of(events: Iterable[Event], device: str, as_of: datetime) -> DeviceStatus:
    """The status of ``device`` from the events at or before ``as_of``."""
    world = replay(events, as_of=as_of)
    if device not in world.devices:
        raise UnknownDevice(device, format_time(as_of))
    return status(world, device, as_of)

"""The projection: what the rules derive from each fact, in the rows a store keeps.

One derivation, :func:`derive`, serves appending (the rows written beside
the facts), verifying (the rows a fresh replay expects) and rebuilding (the
rows that replace the stored ones). If appending and verifying derived them
separately, a drift between the two would report healthy files as damaged.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import msgspec

from ..engine.codec import decode_stored
from ..engine.events import AnyEvent, CodeBlocked, Event
from ..engine.moments import sortable_time
from ..engine.views import Outcome, stored_status
from ..engine.world import World
from .protocol import ResultRow, StatusRow

__all__ = ["Projected", "derive", "replay_rows"]

_json = msgspec.json.Encoder()

#: An event's projection: its result, and the status of each device it concerns.
Projected = tuple[ResultRow, list[StatusRow]]


def derive(world: World, seq: int, event: Event, outcome: Outcome) -> Projected:
    """The projection of event ``seq``, given the world right after applying it."""
    assert event.at is not None
    detail = None if outcome.detail is None else _json.encode(outcome.detail).decode()
    evidence = _json.encode(outcome.evidence).decode() if outcome.evidence else None
    result = ResultRow(seq, outcome.result, outcome.reason, detail, evidence)
    device: str | None = getattr(event, "device", None)
    if device is not None:
        concerned = [device]
    elif isinstance(event, CodeBlocked) and outcome.detail is not None:
        # The devices whose active license the block reached: the event names none of them.
        concerned = list(outcome.detail["blocked_devices"])
    else:
        return result, []
    at = sortable_time(event.at)
    statuses = []
    for name in concerned:
        record = world.devices[name]
        status = _json.encode(stored_status(record, world.codes)).decode()
        statuses.append(StatusRow(seq, name, at, record.state, status))
    return result, statuses


def replay_rows(
    world: World, rows: Iterable[tuple[int, int, str]]
) -> Iterator[tuple[int, AnyEvent, Projected]]:
    """Apply stored ``(seq, schema version, payload)`` rows in order; yield each projection."""
    apply = world.apply
    for seq, version, payload in rows:
        event = decode_stored(payload, version)
        yield seq, event, derive(world, seq, event, apply(event))

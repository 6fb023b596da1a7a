"""What each page shows, gathered from the ledger in one call (run in a worker thread).

Nothing here decides a rule: every state, result and reason comes from the
library (``status``, ``trace``, ``events``, ``world``, ``verify``). These
functions only choose what to read and shape it for the templates.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import msgspec

from ...engine.moments import format_time, parse_moment
from ...engine.views import DeviceStatus, TraceEntry
from ...errors import UnknownDevice
from ...ledger import Ledger
from ...store.chain import GENESIS, link
from ...store.protocol import FeedRow
from . import forensics
from .words import words

__all__ = [
    "DevicePage",
    "EventPage",
    "Overview",
    "ResultTally",
    "device_page",
    "event_page",
    "find_devices",
    "overview",
]

#: How many device names the overview lists (the search finds the others).
OVERVIEW_DEVICES = 100
#: How many matches a search lists.
SEARCH_LIMIT = 100
_FEED_PAGE = 5_000
#: How many of the devices an event changed the event page shows before and after.
CHANGED_LIMIT = 200


@dataclass
class ResultTally:
    """Events counted by (result, reason), kept up to date from the feed as the log grows."""

    seq: int = 0
    hash: str | None = None
    counts: Counter[tuple[str, str | None]] = field(default_factory=Counter)

    def update(self, ledger: Ledger) -> None:
        if self.seq:
            # Start over if the log is not the one counted (a shorter copy, a rebuilt projection).
            rows = ledger.events(after=self.seq - 1, limit=1)
            if not rows or rows[0].hash != self.hash:
                self.seq, self.hash, self.counts = 0, None, Counter()
        while rows := ledger.events(after=self.seq, limit=_FEED_PAGE):
            self.counts.update((row.result, row.reason) for row in rows)
            self.seq, self.hash = rows[-1].seq, rows[-1].hash


@dataclass
class Overview:
    events: int
    head_hash: str | None
    devices: int
    by_state: list[tuple[str, int]]
    results: list[tuple[str, str | None, int]]
    names: list[str]


def overview(ledger: Ledger, tally: ResultTally) -> Overview:
    """The log at a glance: events, the chain head, devices by state now, results by reason."""
    world = ledger.world()
    tally.update(ledger)
    states = Counter(record.state for record in world.devices.values())
    head_seq, head_hash = ledger.backend.head()
    return Overview(
        events=head_seq,
        head_hash=head_hash,
        devices=len(world.devices),
        by_state=sorted(states.items(), key=lambda item: (-item[1], item[0])),
        results=sorted(
            ((result, reason, n) for (result, reason), n in tally.counts.items()),
            key=lambda item: (-item[2], item[0], item[1] or ""),
        ),
        names=heapq.nsmallest(OVERVIEW_DEVICES, world.devices),
    )


def find_devices(ledger: Ledger, text: str, state: str | None) -> tuple[list[str], int, bool]:
    """Devices whose name contains ``text`` (any case), in state ``state`` now if given.

    The first ones by name, how many there are, and whether ``text`` is a device's exact name.
    """
    wanted = text.casefold()
    devices = ledger.world().devices
    found = [
        name
        for name, record in devices.items()
        if wanted in name.casefold() and (state is None or record.state == state)
    ]
    return heapq.nsmallest(SEARCH_LIMIT, found), len(found), text in devices


@dataclass
class Moment:
    """A point the engineer can pick: just after an event of the device."""

    seq: int
    at: str


@dataclass
class TimelineEntry:
    entry: TraceEntry
    #: The event happened after the moment picked (shown dimmed).
    later: bool
    #: Earlier events this result rests on (empty until the forensics engine gives them).
    evidence: list[int]
    #: The entry's time as printed, and as a query value (computed once: a timeline may be long).
    at: str = ""
    then: str = ""
    #: The plain words of its type, result, reason and state.
    said: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        entry = self.entry
        self.at = format_time(entry.at)
        self.then = quote(self.at, safe="")
        self.said = {
            "type": words("event", entry.type),
            "result": words("result", entry.result),
            "reason": words("reason", entry.reason),
            "state": words("state", entry.state),
        }


@dataclass
class DevicePage:
    device: str
    #: The moment picked (None: now), and the moment the status is judged at.
    as_of: datetime | None
    judged_at: datetime
    #: None when the device was not registered yet at that moment.
    status: DeviceStatus | None
    timeline: list[TimelineEntry]
    moments: list[Moment]
    #: The index of the moment picked among ``moments`` (the last one at or before it).
    picked: int | None
    diff: Any = None


def device_page(ledger: Ledger, device: str, as_of: datetime | None, now: datetime) -> DevicePage:
    """A device's status at a moment (default now) and its whole timeline."""
    trace = ledger.trace(device)  # UnknownDevice: never registered
    judged_at = as_of or now
    try:
        status: DeviceStatus | None = ledger.status(device, judged_at)
    except UnknownDevice:
        status = None
    timeline = [
        TimelineEntry(entry, later=entry.at > judged_at, evidence=forensics.evidence(entry))
        for entry in trace
    ]
    moments = [Moment(entry.seq, format_time(entry.at)) for entry in trace]
    earlier = [i for i, entry in enumerate(trace) if entry.at <= judged_at]
    picked = earlier[-1] if earlier and as_of is not None else None
    return DevicePage(device, as_of, judged_at, status, timeline, moments, picked)


def own_seqs(ledger: Ledger, device: str) -> frozenset[int]:
    """The seqs of a device's own timeline: the only ones a device token reads in any evidence."""
    try:
        return frozenset(entry.seq for entry in ledger.trace(device))
    except UnknownDevice:
        return frozenset()


@dataclass
class Changed:
    """A device whose status an event changed: its state before and after."""

    device: str
    before: str | None
    after: str


@dataclass
class EventPage:
    seq: int
    type: str
    at: datetime
    device: str | None
    result: str
    reason: str | None
    detail: dict[str, Any] | None
    hash: str
    previous_hash: str
    #: Whether the hash is the link of the previous hash, this seq and this payload.
    links: bool
    payload: dict[str, Any]
    evidence: list[int]
    changed: list[Changed]
    #: The devices whose status this event set (the event's own, or those a block reached).
    concerned: list[str]


def event_row(ledger: Ledger, seq: int) -> FeedRow | None:
    rows = ledger.events(after=seq - 1, limit=1)
    return rows[0] if rows and rows[0].seq == seq else None


def concerned_devices(row: FeedRow, detail: dict[str, Any] | None) -> list[str]:
    """The devices whose status the event set: the one it names, or those a CodeBlocked blocked."""
    if row.device is not None:
        return [row.device]
    if row.type == "CodeBlocked" and detail is not None:
        return [str(name) for name in detail.get("blocked_devices", [])]
    return []


def event_page(ledger: Ledger, seq: int) -> EventPage | None:
    """One stored event: payload, chain link, result and the devices it changed (None: no such seq)."""
    row = event_row(ledger, seq)
    if row is None:
        return None
    before_it = event_row(ledger, seq - 1) if seq > 1 else None
    previous = GENESIS if before_it is None else before_it.hash
    detail = None if row.detail is None else msgspec.json.decode(row.detail)
    concerned = concerned_devices(row, detail)
    changed = []
    for name in concerned[:CHANGED_LIMIT]:
        try:
            trace = ledger.trace(name)
        except UnknownDevice:
            continue
        index = next((i for i, entry in enumerate(trace) if entry.seq == seq), None)
        if index is not None:
            before = trace[index - 1].state if index else None
            changed.append(Changed(name, before, trace[index].state))
    return EventPage(
        seq=row.seq,
        type=row.type,
        at=parse_moment(row.at, field="at"),
        device=row.device,
        result=row.result,
        reason=row.reason,
        detail=detail,
        hash=row.hash,
        previous_hash=previous,
        links=link(previous, row.seq, row.payload) == row.hash,
        payload=msgspec.json.decode(row.payload),
        evidence=forensics.evidence(row),
        changed=changed,
        concerned=concerned,
    )

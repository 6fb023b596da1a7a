"""What the forensic questions answer with (the CLI's ``--json`` and the service)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from ..views import DeviceStatus, TraceEntry

__all__ = [
    "Change",
    "ChangedEvent",
    "DeviceChange",
    "DeviceState",
    "Diff",
    "FirstMatch",
    "InsertedEvent",
    "ResultView",
    "WhatIf",
]


class Change(msgspec.Struct, frozen=True):
    """One field of a status that differs between two moments."""

    #: The field's path in the status: ``state``, ``license.expires_at``, ``backup.state``, ``actions``...
    field: str
    before: Any
    after: Any
    #: The event that changed it last between the two moments (None: time alone changed it).
    seq: int | None


class Diff(msgspec.Struct, frozen=True):
    """A device's status at two moments, what changed, and the events between."""

    device: str
    since: datetime = msgspec.field(name="from")
    until: datetime = msgspec.field(name="to")
    #: None when the device was not registered yet at ``from``.
    before: DeviceStatus | None = None
    after: DeviceStatus | None = None
    changes: list[Change] = msgspec.field(default_factory=list)
    events: list[TraceEntry] = msgspec.field(default_factory=list)


class FirstMatch(msgspec.Struct, frozen=True):
    """The first event after which a device's status matched; all None when it never did."""

    device: str
    seq: int | None
    at: datetime | None
    #: The status right after that event, judged at its time.
    status: DeviceStatus | None


class DeviceState(msgspec.Struct, frozen=True):
    """A device and its state as of a moment."""

    device: str
    state: str


class ResultView(msgspec.Struct, frozen=True):
    """An event's result and reason."""

    result: str
    reason: str | None


class ChangedEvent(msgspec.Struct, frozen=True):
    """A stored event whose result would differ (or that would be dropped)."""

    seq: int
    type: str
    device: str | None
    was: ResultView
    now: ResultView | Literal["dropped"]


class InsertedEvent(msgspec.Struct, frozen=True):
    """An event a what-if inserted, and the result it would get."""

    after: int
    type: str
    device: str | None
    at: datetime
    now: ResultView


class DeviceChange(msgspec.Struct, frozen=True):
    """A device whose status as of the moment compared would differ (None: not registered)."""

    device: str
    was: DeviceStatus | None
    now: DeviceStatus | None


class WhatIf(msgspec.Struct, frozen=True):
    """What a replay with changes would answer differently; nothing is written."""

    #: The first stored event, still in the log, whose result would differ (None: none would).
    first_divergence: int | None
    changed_events: list[ChangedEvent]
    devices: list[DeviceChange]
    #: The moment the statuses were compared at.
    as_of: datetime
    inserted: list[InsertedEvent] = msgspec.field(default_factory=list)

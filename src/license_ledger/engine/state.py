"""The state replay folds events into: the records and the clock, nothing else.

:class:`State` is the narrow interface of the guards
(:mod:`license_ledger.engine.checks`) and the effects
(:mod:`license_ledger.engine.effects`): they read and change these four
attributes and know nothing of the rules table, batches or snapshots.
:class:`~license_ledger.engine.world.World` is a State that also checks and
applies events. This module imports neither, so that the engine has no
import circle: state <- checks, effects <- rules <- world.
"""

from __future__ import annotations

from datetime import datetime

from .records import CodeRecord, DeviceRecord

__all__ = ["State"]


class State:
    """Every device and code, as the events so far made them, and when that was."""

    def __init__(self) -> None:
        #: Device id -> its record.
        self.devices: dict[str, DeviceRecord] = {}
        #: Code fingerprint (sha256) -> its record.
        self.codes: dict[str, CodeRecord] = {}
        #: The time of the last event applied. While an event is applied it is
        #: already that event's time: guards judge expiry, and effects date
        #: activations and backups, against it. (Events come in time order.)
        self.last_at: datetime | None = None
        #: How many events were applied: the seq of the last one.
        self.count = 0

"""The undo journal of a batch: what a batch changed, so that it can be undone.

A store checks and applies a batch one event at a time, and refuses the whole
batch when one event is refused. :class:`Journal` remembers each record as it
was before the batch first changed it (a copy, or that it did not exist) and
the clock, so that :meth:`Journal.undo` puts the state back exactly. Outside
a batch there is no journal and replay pays nothing for it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .codes import CodeRef
from .records import DeviceRecord
from .state import State

__all__ = ["Journal"]

#: Stands for a record that did not exist before the batch.
_MISSING = object()


class Journal:
    """The records a batch changed, as they were before it, and the clock."""

    __slots__ = ("_clock", "_saved", "_state")

    def __init__(self, state: State) -> None:
        self._state = state
        self._saved: dict[tuple[str, str], Any] = {}
        self._clock = (state.last_at, state.count)

    def save_device(self, device_id: str) -> None:
        """Remember the device's record (or its absence) before its first change."""
        saved = self._saved
        if ("d", device_id) not in saved:
            record = self._state.devices.get(device_id)
            saved["d", device_id] = _MISSING if record is None else msgspec.structs.replace(record)

    def save_code(self, fp: str) -> None:
        """Remember the code's record (or its absence) before its first change."""
        saved = self._saved
        if ("c", fp) not in saved:
            record = self._state.codes.get(fp)
            saved["c", fp] = (
                _MISSING if record is None else msgspec.structs.replace(record, holders=set(record.holders))
            )

    def save_for_trigger(self, device: DeviceRecord, code: CodeRef | None) -> None:
        """Remember what a trigger may change: the device, its license's code and the candidate's."""
        self.save_device(device.id)
        if device.license is not None:
            self.save_code(device.license)
        if code is not None and code.sha256 in self._state.codes:
            self.save_code(code.sha256)

    def undo(self) -> None:
        """Put every remembered record and the clock back as they were."""
        state = self._state
        for (kind, key), original in self._saved.items():
            table: dict[str, Any] = state.devices if kind == "d" else state.codes
            if original is _MISSING:
                table.pop(key, None)
            else:
                table[key] = original
        state.last_at, state.count = self._clock
        self._saved = {}

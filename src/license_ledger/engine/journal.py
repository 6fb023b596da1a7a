"""The undo journal of a batch: what a batch changed, so that it can be undone.

A store checks and applies a batch one event at a time, and refuses the whole
batch when one event is refused. :class:`Journal` remembers each record as it
was before the batch first changed it (a copy, or that it did not exist) and
the clock, so that :meth:`Journal.undo` puts the state back exactly. Outside
a batch there is no journal and replay pays nothing for it.

A group commit writes several independent batches in one transaction: each
batch is a section of the journal (:meth:`Journal.mark`), and a refused batch
undoes its own section alone (:meth:`Journal.undo_section`), leaving the
batches before it applied; :meth:`Journal.undo` still undoes every section.
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

_Section = tuple[dict[tuple[str, str], Any], tuple[Any, int]]


class Journal:
    """The records a batch changed, as they were before it, and the clock; in sections."""

    __slots__ = ("_clock", "_earlier", "_saved", "_state")

    def __init__(self, state: State) -> None:
        self._state = state
        self._saved: dict[tuple[str, str], Any] = {}
        self._clock = (state.last_at, state.count)
        #: The sections before the current one, oldest first.
        self._earlier: list[_Section] = []

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

    def mark(self) -> None:
        """Start a new section: :meth:`undo_section` will undo what changes from here on."""
        state = self._state
        self._earlier.append((self._saved, self._clock))
        self._saved, self._clock = {}, (state.last_at, state.count)

    def undo_section(self) -> None:
        """Undo the current section alone, and go on with the one before it."""
        assert self._earlier, "undo_section() without mark()"
        self._restore(self._saved, self._clock)
        self._saved, self._clock = self._earlier.pop()

    def undo(self) -> None:
        """Put every remembered record and the clock back as they were, newest section first."""
        self._restore(self._saved, self._clock)
        for saved, clock in reversed(self._earlier):
            self._restore(saved, clock)
        self._saved, self._earlier = {}, []

    def _restore(self, saved: dict[tuple[str, str], Any], clock: tuple[Any, int]) -> None:
        state = self._state
        for (kind, key), original in saved.items():
            table: dict[str, Any] = state.devices if kind == "d" else state.codes
            if original is _MISSING:
                table.pop(key, None)
            else:
                table[key] = original
        state.last_at, state.count = clock

"""Where the forensics engine plugs into the pages: evidence, the two-point diff, what-if.

The library does the forensics; the pages only show it. Each hook below is
the one place a page asks for it, and each template has the block that
shows its answer (``evidence`` in the timeline and on the event page,
``diff`` and ``what_if`` on the device page).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from ...engine.forensics.views import Diff, WhatIf
from ...ledger import Ledger
from ..edge import shown
from ..tokens import Principal

_seqs = msgspec.json.Decoder(list[int])

__all__ = ["diff", "evidence", "shown_diff", "what_if"]


def evidence(result: object) -> list[int]:
    """The earlier seqs a result or trace entry rests on, as its ``evidence`` field lists them (or none).

    A trace entry carries them as seqs, a stored row (the feed) as its JSON array.
    """
    found = getattr(result, "evidence", None)
    if isinstance(found, str):
        try:
            found = _seqs.decode(found)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return []
    return [seq for seq in found if isinstance(seq, int)] if isinstance(found, (list, tuple)) else []


def diff(ledger: Ledger, device: str, start: datetime, end: datetime) -> Diff:
    """What changed in a device's status between two moments: ``Ledger.diff``."""
    return ledger.diff(device, start, end)


def what_if(ledger: Ledger, device: str, drop: list[int], insert: list[dict[str, Any]]) -> WhatIf:
    """Which results and statuses would change with ``drop`` left out and ``insert`` put after
    the device's last event (``Ledger.what_if``)."""
    trace = ledger.trace(device)
    after = trace[-1].seq if trace else 0
    return ledger.what_if(drop=drop, insert={after: insert} if insert else {})


def shown_diff(principal: Principal, found: Diff, own: frozenset[int]) -> Diff:
    """A diff as ``principal`` may read it: a device token reads no seq outside its own
    timeline (``own``) and no other device's name."""
    if principal.device is None:
        return found
    changes = [
        c if c.seq is None or c.seq in own else msgspec.structs.replace(c, seq=None) for c in found.changes
    ]
    events = shown(principal, [e for e in found.events if e.seq in own], own)
    return msgspec.structs.replace(found, changes=changes, events=events)


#: Whether the device page offers the two-point diff and the what-if form.
DIFF_AVAILABLE = True
WHAT_IF_AVAILABLE = True

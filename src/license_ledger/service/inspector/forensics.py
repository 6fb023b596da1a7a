"""Where the forensics engine plugs into the pages: evidence, the two-point diff, what-if.

The library does the forensics; the pages only show it. Each hook below is
the one place a page asks for it, and each template has the block that
shows its answer (``evidence`` in the timeline and on the event page,
``diff`` and ``what_if`` on the device page). Until the library offers a
piece, its hook answers "nothing" and its block stays empty.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ...ledger import Ledger

__all__ = ["diff", "evidence", "what_if"]


def evidence(result: object) -> list[int]:
    """The earlier seqs a result or trace entry rests on, as its ``evidence`` field lists them (or none)."""
    found = getattr(result, "evidence", None)
    return [seq for seq in found if isinstance(seq, int)] if isinstance(found, list) else []


def diff(ledger: Ledger, device: str, start: datetime, end: datetime) -> Any:
    """What changed in a device's status between two moments: ``Ledger.diff`` (not in the library yet)."""
    return None


def what_if(ledger: Ledger, device: str, drop: list[int], insert: list[dict[str, Any]]) -> Any:
    """Which results and statuses would change: ``Ledger.what_if`` (not in the library yet)."""
    return None


#: Whether the device page offers the two-point diff and the what-if form.
DIFF_AVAILABLE = False
WHAT_IF_AVAILABLE = False

"""What a rule's result rests on, beside the failed check: the evidence of a result.

A rule may name a witness (``evidence=`` in :data:`~license_ledger.engine.rules.RULES`):
``witness(state, device, code, record) -> tuple[int, ...]``, run before the
rule's effect, that returns the seqs of the earlier events the result rests
on. A rule that reports the failed check also reports that check's evidence
(:mod:`license_ledger.engine.checks`); a rule with both reports both,
ascending. Results without a witness or a failed check have no evidence
(``recorded``, ``activated``, ``removed``, ``ignored``, ...).
"""

from __future__ import annotations

from .codes import CodeRef
from .records import CodeRecord, DeviceRecord
from .state import State

__all__ = ["WITNESSES", "merged"]


def backup_added(state: State, device: DeviceRecord, code: CodeRef, record: CodeRecord) -> tuple[int, ...]:
    """The CodeEntered that added the backup (a renewal, or its failure)."""
    seq = device.backup_seq
    return () if seq is None else (seq,)


def merged(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """Two evidence tuples as one: ascending, each seq once."""
    if not a:
        return b
    if not b:
        return a
    return tuple(sorted({*a, *b}))


WITNESSES = {witness.__name__: witness for witness in (backup_added,)}

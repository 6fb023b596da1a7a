"""The exceptions of license-ledger: one root, a few specific kinds.

Every refusal says where (the line of a batch, the field path), what was
expected and what was found, so that a support engineer can fix the input
without reading code.
"""

from __future__ import annotations

__all__ = [
    "LedgerError",
    "InputRefused",
    "UnknownDevice",
    "NotALedger",
    "NewerSchema",
    "NeedsMigration",
    "DamagedLedger",
]


class LedgerError(Exception):
    """The root of every error license-ledger raises on purpose."""


class InputRefused(LedgerError):
    """An event or a batch was refused; nothing of it was stored.

    ``line`` is the 1-based position in the batch (or input file), ``field``
    the path of the offending field (``$.term_days``), ``expected`` and
    ``found`` say what was wanted and what arrived.
    """

    def __init__(
        self,
        expected: str,
        found: str,
        *,
        field: str | None = None,
        line: int | None = None,
        event_type: str | None = None,
        seq: int | None = None,
        inserted: bool = False,
    ) -> None:
        self.expected = expected
        self.found = found
        self.field = field
        self.line = line
        self.event_type = event_type
        #: A what-if's refusal: the stored event's seq (``inserted``: the seq the
        #: refused event was inserted after).
        self.seq = seq
        self.inserted = inserted
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = []
        if self.seq is not None:
            where.append(f"inserted after seq {self.seq}" if self.inserted else f"seq {self.seq}")
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.event_type is not None:
            where.append(self.event_type)
        if self.field is not None:
            where.append(f"`{self.field}`")
        prefix = ", ".join(where)
        text = f"expected {self.expected}, found {self.found}"
        return f"{prefix}: {text}" if prefix else text

    def at_line(self, line: int) -> InputRefused:
        """The same refusal, placed at ``line`` of a batch."""
        return InputRefused(
            self.expected,
            self.found,
            field=self.field,
            line=line,
            event_type=self.event_type,
        )

    def at_seq(self, seq: int, *, inserted: bool = False, line: int | None = None) -> InputRefused:
        """The same refusal, placed at a stored seq, or at an event inserted after it (what-if)."""
        return InputRefused(
            self.expected,
            self.found,
            field=self.field,
            line=line,
            event_type=self.event_type,
            seq=seq,
            inserted=inserted,
        )

    def as_dict(self) -> dict[str, object]:
        """The refusal as JSON-friendly data (for the CLI and the service)."""
        extra: dict[str, object] = {} if self.seq is None else {"seq": self.seq}
        return {
            **extra,
            "error": "input_refused",
            "message": str(self),
            "line": self.line,
            "event_type": self.event_type,
            "field": self.field,
            "expected": self.expected,
            "found": self.found,
            "stored": False,
        }


class UnknownDevice(LedgerError):
    """A device was asked about that was never registered (as of the time asked)."""

    def __init__(self, device: str, as_of: str | None = None) -> None:
        self.device = device
        when = f" as of {as_of}" if as_of else ""
        super().__init__(f"device {device!r} was never registered{when}")


class NotALedger(LedgerError):
    """A file that is not a license-ledger store (or cannot be opened as one)."""


class NewerSchema(LedgerError):
    """A store written by a newer license-ledger than this one."""


class NeedsMigration(LedgerError):
    """A store written by an older license-ledger, opened for reading: ``migrate`` first."""


class DamagedLedger(LedgerError):
    """A store whose file is damaged (a corrupt page, a truncated file)."""

"""The records replay folds events into: one per code, one per device.

Beside what the rules read, the records remember the seqs of the events that
set what they read (``*_seq``): a decision's evidence names them
(docs/rules.md, "Evidence").

:class:`~license_ledger.engine.state.State` holds them in two dicts. Records
are mutable msgspec Structs: attribute access as fast as ``__slots__``, and a
snapshot of the whole state (:mod:`license_ledger.engine.snapshot`) encodes
in one call.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from .codes import CodeRef

__all__ = ["CodeRecord", "DeviceRecord", "Failure"]

#: A failed check: its reason, where it helps to answer "why" details, and
#: its evidence: the seqs of the earlier events it rested on (ascending).
Failure = tuple[str, dict[str, object] | None, tuple[int, ...]]


class CodeRecord(msgspec.Struct, kw_only=True, gc=False):
    """What the world knows of one issued code."""

    ref: CodeRef
    kind: str
    term_days: int
    max_devices: int
    compatible_versions: str
    requires_console: bool
    purchased_at: datetime
    issued_at: datetime
    first_activated_at: datetime | None = None
    #: The seq of the code's first activation (which set ``expires_at``).
    first_activated_seq: int | None = None
    expires_at: datetime | None = None
    blocked: bool = False
    block_reason: str | None = None
    #: The seq of the CodeBlocked that blocked it.
    blocked_seq: int | None = None
    #: Devices holding a seat: their license is this code and is active or blocked.
    holders: set[str] = msgspec.field(default_factory=set)


class DeviceRecord(msgspec.Struct, kw_only=True, gc=False):
    """What the world knows of one device."""

    id: str
    registered_at: datetime
    app_version: str
    #: The seq of the DeviceRegistered or AppUpdated that set ``app_version``.
    version_seq: int = 0
    connected: bool = True
    #: The seq of the last ConsoleConnectionChanged (``None``: never changed).
    console_seq: int | None = None
    state: str = "unlicensed"
    #: The fingerprint of the license's code, while a license is present.
    license: str | None = None
    #: The seq of the event that activated the license on this device (gave it its seat).
    license_seq: int | None = None
    backup: CodeRef | None = None
    backup_state: str | None = None
    backup_added_at: datetime | None = None
    backup_failure: str | None = None
    #: The seq of the CodeEntered that added the backup.
    backup_seq: int | None = None

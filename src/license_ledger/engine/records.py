"""The records replay folds events into: one per code, one per device.

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

#: A failed check: its reason and, where it helps to answer "why", details.
Failure = tuple[str, dict[str, object] | None]


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
    expires_at: datetime | None = None
    blocked: bool = False
    block_reason: str | None = None
    #: Devices holding a seat: their license is this code and is active or blocked.
    holders: set[str] = msgspec.field(default_factory=set)


class DeviceRecord(msgspec.Struct, kw_only=True, gc=False):
    """What the world knows of one device."""

    id: str
    registered_at: datetime
    app_version: str
    connected: bool = True
    state: str = "unlicensed"
    #: The fingerprint of the license's code, while a license is present.
    license: str | None = None
    backup: CodeRef | None = None
    backup_state: str | None = None
    backup_added_at: datetime | None = None
    backup_failure: str | None = None

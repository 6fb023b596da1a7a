"""What license-ledger answers with: results, statuses, trace entries.

These Structs are the output contract of the library, the CLI's ``--json``
and the service (field names and order as in docs/spec.md, "Device status").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from .codes import mask
from .moments import DAY
from .records import CodeRecord, DeviceRecord

__all__ = [
    "ACTIONS",
    "BACKUP_STATES",
    "Appended",
    "BackupView",
    "DeviceStatus",
    "LicenseView",
    "Outcome",
    "StoredStatus",
    "TraceEntry",
    "device_status",
    "status_actions",
    "stored_status",
]


#: The buttons a status can offer, in the order it lists them.
ACTIONS = ["try_again", "activate_now", "remove_license"]
#: The states of a backup code: waiting to renew the license, or failed to.
BACKUP_STATES = ["pending", "activation_failed"]


class Outcome(msgspec.Struct, frozen=True, gc=False):
    """The result of one event, with a reason when it did not take effect."""

    result: str
    reason: str | None = None
    #: What the check compared, to answer "why" (dates, versions, seat holders).
    detail: dict[str, Any] | None = None
    #: The seqs of the earlier events the result rests on, ascending (docs/rules.md, "Evidence").
    evidence: tuple[int, ...] = ()


class Appended(msgspec.Struct, frozen=True):
    """What an append reports for one event: where it is stored and its result."""

    seq: int
    type: str
    at: datetime
    result: str
    reason: str | None = None
    detail: dict[str, Any] | None = None
    #: False when the event's ``id`` was already stored with the same content.
    stored: bool = True
    #: The seqs of the earlier events the result rests on, ascending.
    evidence: tuple[int, ...] = ()


class LicenseView(msgspec.Struct, frozen=True):
    code: str
    kind: str
    activated_at: datetime
    expires_at: datetime
    provisional: bool


class BackupView(msgspec.Struct, frozen=True):
    code: str
    state: str
    added_at: datetime
    failure: str | None


class DeviceStatus(msgspec.Struct, frozen=True):
    """A device's license status as of a moment."""

    device: str
    as_of: datetime
    state: str
    license: LicenseView | None
    backup: BackupView | None
    actions: list[str]


class TraceEntry(msgspec.Struct, frozen=True):
    """One event in a device's story, and the device's state after it."""

    seq: int
    type: str
    at: datetime
    result: str
    reason: str | None
    detail: dict[str, Any] | None
    state: str
    #: The seqs of the earlier events the result rests on, ascending.
    evidence: tuple[int, ...] = ()


class StoredLicense(msgspec.Struct, frozen=True):
    code: str
    kind: str
    activated_at: datetime
    expires_at: datetime
    purchased_at: datetime


class StoredStatus(msgspec.Struct, frozen=True):
    """A device's status as an event left it, before a moment judges it.

    The store keeps one per event that concerns a device, so that status as
    of any time is one indexed read; ``provisional`` depends on the moment
    asked about and is computed by :meth:`at`.
    """

    state: str
    license: StoredLicense | None
    backup: BackupView | None
    actions: list[str]

    def at(self, device: str, as_of: datetime) -> DeviceStatus:
        """The status shown at ``as_of``."""
        lic = self.license
        return DeviceStatus(
            device=device,
            as_of=as_of,
            state=self.state,
            license=None
            if lic is None
            else LicenseView(
                code=lic.code,
                kind=lic.kind,
                activated_at=lic.activated_at,
                expires_at=lic.expires_at,
                # "It can take up to 24 hours after purchase before the
                # correct license status is displayed."
                provisional=as_of < lic.purchased_at + DAY,
            ),
            backup=self.backup,
            actions=self.actions,
        )


def stored_status(device: DeviceRecord, codes: dict[str, CodeRecord]) -> StoredStatus:
    """The status the device's records describe (``provisional`` left open)."""
    license = None
    if device.license is not None:
        code = codes[device.license]
        assert code.first_activated_at is not None and code.expires_at is not None
        license = StoredLicense(
            code=mask(code.ref),
            kind=code.kind,
            activated_at=code.first_activated_at,
            expires_at=code.expires_at,
            purchased_at=code.purchased_at,
        )
    backup = None
    if device.backup is not None:
        assert device.backup_state is not None and device.backup_added_at is not None
        backup = BackupView(
            code=mask(device.backup),
            state=device.backup_state,
            added_at=device.backup_added_at,
            failure=device.backup_failure,
        )
    actions = status_actions(device.state, license is not None, backup is not None, device.backup_state)
    return StoredStatus(state=device.state, license=license, backup=backup, actions=actions)


def status_actions(state: str, has_license: bool, has_backup: bool, backup_state: str | None) -> list[str]:
    """The buttons a status offers, from its state, license and backup."""
    actions = []
    if backup_state == "activation_failed" and state != "blocked":
        actions.append("try_again")
    if state == "blocked" and has_backup:
        actions.append("activate_now")
    if has_license:
        actions.append("remove_license")
    return actions


def device_status(device: DeviceRecord, codes: dict[str, CodeRecord], as_of: datetime) -> DeviceStatus:
    """Build the status of ``device`` from the world's records, judged at ``as_of``."""
    return stored_status(device, codes).at(device.id, as_of)

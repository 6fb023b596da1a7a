"""What a transition does to the state once its guards have passed.

An effect is ``effect(state, device, code, record, failure)``: ``state`` is
a :class:`~license_ledger.engine.state.State` (the records and the clock;
``state.last_at`` is the time of the event being applied), ``code`` the
candidate (entered code or backup), ``record`` the state's record of it (as
the guards saw it), ``failure`` the check that failed on the way here (for
the "failed" branches), else ``None``. The new state of the device itself is
set by the machine, from the rule's destination. ``state.count`` is the seq
of the event being applied: effects note it in the records' ``*_seq`` fields,
the evidence of later decisions.
"""

from __future__ import annotations

from .codes import CodeRef
from .moments import DAY
from .records import CodeRecord, DeviceRecord, Failure
from .state import State

__all__ = ["EFFECTS"]


def _free_seat(state: State, device: DeviceRecord) -> None:
    if device.license is not None:
        state.codes[device.license].holders.discard(device.id)


def _clear_backup(device: DeviceRecord) -> None:
    device.backup = None
    device.backup_state = None
    device.backup_added_at = None
    device.backup_failure = None
    device.backup_seq = None


def _fail_backup(device: DeviceRecord, failure: Failure | None) -> None:
    device.backup_state = "activation_failed"
    device.backup_failure = failure[0] if failure else None


def add_backup(
    state: State, device: DeviceRecord, code: CodeRef, record: CodeRecord, failure: Failure | None
) -> None:
    device.backup = code
    device.backup_state = "pending"
    device.backup_added_at = state.last_at
    device.backup_failure = None
    device.backup_seq = state.count


def activate_candidate(
    state: State, device: DeviceRecord, code: CodeRef, record: CodeRecord, failure: Failure | None
) -> None:
    # The old license (if any) gives up its seat, the candidate (entered code
    # or backup) becomes the license, and any backup is used up or, having
    # failed before, discarded. (The hottest effect of replay: written flat.)
    _free_seat(state, device)
    now = state.last_at
    seq = state.count  # the seq of the event being applied
    if record.first_activated_at is None:
        # Every device that activates a code later shares this first activation date.
        record.first_activated_at = now
        record.first_activated_seq = seq
        record.expires_at = now + record.term_days * DAY  # type: ignore[operator, assignment]
    record.holders.add(device.id)
    device.license = record.ref.sha256  # the codes dict's own key: lookups match by identity
    device.license_seq = seq
    if device.backup is not None:
        _clear_backup(device)


def end_license(
    state: State, device: DeviceRecord, code: CodeRef, record: CodeRecord, failure: Failure | None
) -> None:
    # The license stays on display as expired; only its seat goes.
    _free_seat(state, device)


def end_license_backup_failed(
    state: State, device: DeviceRecord, code: CodeRef, record: CodeRecord, failure: Failure | None
) -> None:
    _free_seat(state, device)
    _fail_backup(device, failure)


def remove_license(
    state: State, device: DeviceRecord, code: CodeRef, record: CodeRecord, failure: Failure | None
) -> None:
    _free_seat(state, device)
    device.license = None
    device.license_seq = None


def remove_license_backup_failed(
    state: State, device: DeviceRecord, code: CodeRef, record: CodeRecord, failure: Failure | None
) -> None:
    _free_seat(state, device)
    device.license = None
    device.license_seq = None
    _fail_backup(device, failure)


def backup_failed_again(
    state: State, device: DeviceRecord, code: CodeRef, record: CodeRecord, failure: Failure | None
) -> None:
    _fail_backup(device, failure)


EFFECTS = {
    effect.__name__: effect
    for effect in (
        add_backup,
        activate_candidate,
        end_license,
        end_license_backup_failed,
        remove_license,
        remove_license_backup_failed,
        backup_failed_again,
    )
}

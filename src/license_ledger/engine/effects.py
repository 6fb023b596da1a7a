"""What a transition does to the world once its guards have passed.

An effect is ``effect(world, device, code, record, failure)``: ``code`` is the
candidate (entered code or backup), ``record`` the world's record of it (as
the guards saw it), ``failure`` the check that failed on the
way here (for the "failed" branches), else ``None``. The new state itself is
set by the machine, from the rule's destination.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .codes import CodeRef
from .moments import DAY
from .records import CodeRecord, DeviceRecord, Failure

if TYPE_CHECKING:
    from .world import World

__all__ = ["EFFECTS"]


def _free_seat(world: World, device: DeviceRecord) -> None:
    if device.license is not None:
        world.codes[device.license].holders.discard(device.id)


def _clear_backup(device: DeviceRecord) -> None:
    device.backup = None
    device.backup_state = None
    device.backup_added_at = None
    device.backup_failure = None


def _fail_backup(device: DeviceRecord, failure: Failure | None) -> None:
    device.backup_state = "activation_failed"
    device.backup_failure = failure[0] if failure else None


def add_backup(
    world: World, device: DeviceRecord, code: CodeRef, record: CodeRecord, failure: Failure | None
) -> None:
    device.backup = code
    device.backup_state = "pending"
    device.backup_added_at = world.now
    device.backup_failure = None


def activate_candidate(
    world: World, device: DeviceRecord, code: CodeRef, record: CodeRecord, failure: Failure | None
) -> None:
    # The old license (if any) gives up its seat, the candidate (entered code
    # or backup) becomes the license, and any backup is used up or, having
    # failed before, discarded. (The hottest effect of replay: written flat.)
    _free_seat(world, device)
    now = world.now
    if record.first_activated_at is None:
        # Every device that activates a code later shares this first activation date.
        record.first_activated_at = now
        record.expires_at = now + record.term_days * DAY  # type: ignore[operator, assignment]
    record.holders.add(device.id)
    device.license = record.ref.sha256  # the codes dict's own key: lookups match by identity
    if device.backup is not None:
        _clear_backup(device)


def end_license(
    world: World, device: DeviceRecord, code: CodeRef, record: CodeRecord, failure: Failure | None
) -> None:
    # The license stays on display as expired; only its seat goes.
    _free_seat(world, device)


def end_license_backup_failed(
    world: World, device: DeviceRecord, code: CodeRef, record: CodeRecord, failure: Failure | None
) -> None:
    _free_seat(world, device)
    _fail_backup(device, failure)


def remove_license(
    world: World, device: DeviceRecord, code: CodeRef, record: CodeRecord, failure: Failure | None
) -> None:
    _free_seat(world, device)
    device.license = None


def remove_license_backup_failed(
    world: World, device: DeviceRecord, code: CodeRef, record: CodeRecord, failure: Failure | None
) -> None:
    _free_seat(world, device)
    device.license = None
    _fail_backup(device, failure)


def backup_failed_again(
    world: World, device: DeviceRecord, code: CodeRef, record: CodeRecord, failure: Failure | None
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

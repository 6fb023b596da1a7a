"""The guards: every check the specification names, each returning ``None`` or a Failure.

A guard is ``guard(state, device, code, record) -> Failure | None`` where
``code`` is the candidate: the entered code for "Enter activation code", the
backup for everything that activates a backup; ``record`` is what the state
knows of it (looked up once per event, ``None`` for a code never issued: only
``code_well_formed`` and ``code_issued`` run before that is ruled out).
``state`` is a :class:`~license_ledger.engine.state.State` (the records and
the clock, nothing of the rules), and ``state.last_at`` is the time of the
event being applied. The order in which they run is written in
:mod:`license_ledger.engine.rules`.

A Failure is ``(reason, detail, evidence)``: the evidence names, by seq,
the earlier events that made the check fail (the CodeBlocked, the activation
that gave each seat holder its seat, the AppUpdated that set the version),
from the ``*_seq`` fields of the records.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from .codes import CodeRef
from .moments import format_time
from .records import CodeRecord, DeviceRecord, Failure
from .state import State

__all__ = ["GUARDS", "REASON_OF", "fails_with"]

_Guard = TypeVar("_Guard", bound=Callable[..., "Failure | None"])


# --- checks of an entered code --------------------------------------------


#: The reason each guard fails with, by guard name: what a result's ``reason``
#: can be when a rule reports the failed check.
REASON_OF: dict[str, str] = {}


def fails_with(reason: str) -> Callable[[_Guard], _Guard]:
    """Declare the reason a guard fails with (the guard itself is returned unchanged)."""

    def declare(guard: _Guard) -> _Guard:
        REASON_OF[guard.__name__] = reason
        return guard

    return declare


@fails_with("invalid_format")
def code_well_formed(
    state: State, device: DeviceRecord, code: CodeRef, record: CodeRecord | None
) -> Failure | None:
    return None if code.well_formed else ("invalid_format", None, ())


@fails_with("unknown_code")
def code_issued(
    state: State, device: DeviceRecord, code: CodeRef, record: CodeRecord | None
) -> Failure | None:
    return None if record is not None else ("unknown_code", None, ())


@fails_with("already_active")
def not_the_current_code(
    state: State, device: DeviceRecord, code: CodeRef, record: CodeRecord
) -> Failure | None:
    return ("already_active", None, _one(device.license_seq)) if device.license == code.sha256 else None


@fails_with("backup_already_added")
def no_backup_yet(state: State, device: DeviceRecord, code: CodeRef, record: CodeRecord) -> Failure | None:
    return ("backup_already_added", None, _one(device.backup_seq)) if device.backup is not None else None


@fails_with("subscription_in_use")
def current_not_subscription(
    state: State, device: DeviceRecord, code: CodeRef, record: CodeRecord
) -> Failure | None:
    current = state.codes[device.license] if device.license else None
    if current is not None and current.kind == "subscription":
        return ("subscription_in_use", None, _one(device.license_seq))
    return None


@fails_with("trial_not_allowed")
def code_not_trial(state: State, device: DeviceRecord, code: CodeRef, record: CodeRecord) -> Failure | None:
    return ("trial_not_allowed", None, ()) if record.kind == "trial" else None


@fails_with("does_not_extend")
def code_extends_license(
    state: State, device: DeviceRecord, code: CodeRef, record: CodeRecord
) -> Failure | None:
    # A code never activated starts its term when it activates: it always extends.
    candidate = record
    current = state.codes[device.license] if device.license else None
    if candidate.expires_at is None or current is None or current.expires_at is None:
        return None
    if candidate.expires_at > current.expires_at:
        return None
    return (
        "does_not_extend",
        {
            "code_expires_at": format_time(candidate.expires_at),
            "license_expires_at": format_time(current.expires_at),
        },
        _seqs(candidate.first_activated_seq, current.first_activated_seq),
    )


# --- checks of an activation (entered code or backup) ----------------------


@fails_with("code_blocked")
def code_not_blocked(state: State, device: DeviceRecord, code: CodeRef, record: CodeRecord) -> Failure | None:
    if not record.blocked:
        return None
    return ("code_blocked", {"block_reason": record.block_reason}, _one(record.blocked_seq))


@fails_with("code_expired")
def code_not_expired(state: State, device: DeviceRecord, code: CodeRef, record: CodeRecord) -> Failure | None:
    assert state.last_at is not None
    if record.expires_at is None or record.expires_at > state.last_at:
        return None
    return (
        "code_expired",
        {
            "code_expires_at": format_time(record.expires_at),
            "activation_at": format_time(state.last_at),
        },
        _one(record.first_activated_seq),
    )


@fails_with("incompatible_version")
def version_compatible(
    state: State, device: DeviceRecord, code: CodeRef, record: CodeRecord
) -> Failure | None:
    spec = record.compatible_versions
    if not spec or _admits(spec, device.app_version):
        return None
    return (
        "incompatible_version",
        {"app_version": device.app_version, "compatible_versions": spec},
        _one(device.version_seq),
    )


@fails_with("device_limit_reached")
def seat_available(state: State, device: DeviceRecord, code: CodeRef, record: CodeRecord) -> Failure | None:
    holders = record.holders
    others = len(holders) - (device.id in holders)
    if others < record.max_devices:
        return None
    others_held = sorted(holders - {device.id})
    devices = state.devices
    return (
        "device_limit_reached",
        {"max_devices": record.max_devices, "held_by": others_held},
        tuple(sorted(seq for holder in others_held if (seq := devices[holder].license_seq) is not None)),
    )


@fails_with("console_unreachable")
def console_reachable(
    state: State, device: DeviceRecord, code: CodeRef, record: CodeRecord
) -> Failure | None:
    if device.connected or not record.requires_console:
        return None
    return ("console_unreachable", {"requires_console": True, "connected": False}, _one(device.console_seq))


# --- questions about the backup ----------------------------------------------


@fails_with("no_backup")
def has_backup(state: State, device: DeviceRecord, code: CodeRef, record: CodeRecord) -> Failure | None:
    return None if device.backup is not None else ("no_backup", None, ())


@fails_with("backup_not_failed")
def backup_failed(state: State, device: DeviceRecord, code: CodeRef, record: CodeRecord) -> Failure | None:
    return None if device.backup_state == "activation_failed" else ("backup_not_failed", None, ())


def _one(seq: int | None) -> tuple[int, ...]:
    """Evidence of one event, if known."""
    return () if seq is None else (seq,)


def _seqs(*seqs: int | None) -> tuple[int, ...]:
    """Evidence: the seqs known, ascending, each once."""
    return tuple(sorted({seq for seq in seqs if seq is not None}))


@lru_cache(maxsize=4096)
def _admits(spec: str, version: str) -> bool:
    # Parsing specifiers is slow; a log has few distinct (spec, version) pairs.
    return SpecifierSet(spec).contains(Version(version), prereleases=True)


GUARDS = {
    guard.__name__: guard
    for guard in (
        code_well_formed,
        code_issued,
        not_the_current_code,
        no_backup_yet,
        current_not_subscription,
        code_not_trial,
        code_extends_license,
        code_not_blocked,
        code_not_expired,
        version_compatible,
        seat_available,
        console_reachable,
        has_backup,
        backup_failed,
    )
}

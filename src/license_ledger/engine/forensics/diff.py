"""A device's status at two moments, field by field.

:func:`flatten` turns a status into ``{path: value}`` (``license.expires_at``,
``backup.state``, ``actions``...); :func:`changes` lists the paths whose
values differ between two statuses, each with the last event between them
that changed it (from the statuses the store keeps after each event).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..views import BackupView, DeviceStatus, LicenseView
from .views import Change

__all__ = ["FIELDS", "changes", "flatten"]

_LICENSE = tuple(LicenseView.__struct_fields__)
_BACKUP = tuple(BackupView.__struct_fields__)
#: Every field a diff compares, in the order it lists them.
FIELDS = (
    "state",
    *(f"license.{name}" for name in _LICENSE),
    *(f"backup.{name}" for name in _BACKUP),
    "actions",
)


def flatten(status: DeviceStatus | None) -> dict[str, Any]:
    """The status as ``{path: value}``; every value None for a device not registered."""
    if status is None:
        return dict.fromkeys(FIELDS)
    flat: dict[str, Any] = {"state": status.state}
    lic, backup = status.license, status.backup
    for name in _LICENSE:
        flat[f"license.{name}"] = None if lic is None else getattr(lic, name)
    for name in _BACKUP:
        flat[f"backup.{name}"] = None if backup is None else getattr(backup, name)
    flat["actions"] = list(status.actions)
    return flat


def changes(
    before: DeviceStatus | None,
    after: DeviceStatus | None,
    baseline: DeviceStatus | None,
    steps: Iterable[tuple[int, DeviceStatus]],
) -> list[Change]:
    """The fields that differ from ``before`` to ``after``, each with the seq that changed it last.

    ``baseline`` is the status right after the last event at or before the
    first moment (None: not registered yet), ``steps`` the statuses right
    after each event between the two moments (seq order); each is judged at
    its own event's time. A field that differs although no event changed it
    (``license.provisional`` as time passes) has no seq.
    """
    old, new = flatten(before), flatten(after)
    differing = [name for name in FIELDS if old[name] != new[name]]
    if not differing:
        return []
    last: dict[str, int] = {}
    previous = flatten(baseline)
    for seq, status in steps:
        flat = flatten(status)
        for name in differing:
            if flat[name] != previous[name]:
                last[name] = seq
        previous = flat
    return [Change(name, old[name], new[name], last.get(name)) for name in differing]

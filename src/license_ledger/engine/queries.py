"""Questions asked of the state: a device's status, the expiries due, the seats.

Read-only functions over a :class:`~license_ledger.engine.state.State` (a
:class:`~license_ledger.engine.world.World` is one). They live apart from the
world so that checking and applying events, the hot path of replay, is all
that module holds.
"""

from __future__ import annotations

from datetime import datetime

from ..errors import UnknownDevice
from .events import LicenseExpired
from .moments import format_time
from .state import State
from .views import DeviceStatus, device_status

__all__ = ["due_expiries", "seats", "status"]


def status(world: State, device: str, as_of: datetime) -> DeviceStatus:
    """The device's status now, with ``provisional`` judged at ``as_of``; UnknownDevice if never registered."""
    record = world.devices.get(device)
    if record is None:
        raise UnknownDevice(device, format_time(as_of))
    return device_status(record, world.codes, as_of)


def due_expiries(world: State, now: datetime) -> list[LicenseExpired]:
    """The LicenseExpired events a tick at ``now`` appends, in expiry order."""
    due = []
    for device in world.devices.values():
        if device.state == "active":
            expires_at = world.codes[device.license].expires_at  # type: ignore[index]
            assert expires_at is not None
            if expires_at <= now:
                due.append((expires_at, device.id))
    due.sort()
    return [LicenseExpired(device=device, at=now) for _, device in due]


def seats(world: State) -> dict[str, tuple[int, int]]:
    """Seats held and allowed, per code fingerprint."""
    return {fp: (len(c.holders), c.max_devices) for fp, c in world.codes.items()}

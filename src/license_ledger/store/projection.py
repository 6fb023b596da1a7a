"""The projection: what the rules derive from each fact, in the rows a store keeps.

One derivation, :func:`derive`, serves appending (the rows written beside
the facts), verifying (the rows a fresh replay expects) and rebuilding (the
rows that replace the stored ones). If appending and verifying derived them
separately, a drift between the two would report healthy files as damaged.

A status row keeps the device's state after every event that concerns it,
and the rest of its status (license and backup, :func:`pack_status`) only
where that changed: most events change the state alone, or nothing.
:class:`LastStatus` remembers what was stored last for each device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

import msgspec

from ..engine.codec import decode_stored
from ..engine.codes import CodeRef, mask
from ..engine.events import AnyEvent, CodeBlocked, DeviceRegistered, Event
from ..engine.records import CodeRecord, DeviceRecord
from ..engine.views import BackupView, Outcome, StoredLicense, StoredStatus, status_actions
from ..engine.world import World
from .protocol import ResultRow, StatusRow

__all__ = ["LastStatus", "Projected", "derive", "pack_status", "replay_rows", "unpack_status"]

_json = msgspec.json.Encoder()
_pack = msgspec.msgpack.Encoder()

#: An event's projection: its result, and the state (and status) of each device it concerns.
Projected = tuple[ResultRow, list[StatusRow]]

#: The packed status: (license, backup), each an array or nil. A license is
#: (code tail, well formed, kind, activated at, expires at, purchased at); a
#: backup (code tail, well formed, state, added at, failure). Times are
#: msgpack timestamps. The state is a column of its own; the buttons follow
#: from the rest (``views.status_actions``).
_License = tuple[str, bool, str, datetime, datetime, datetime]
_Backup = tuple[str, bool, str, datetime, str | None]
_unpack = msgspec.msgpack.Decoder(tuple[_License | None, _Backup | None])


def pack_status(device: DeviceRecord, codes: dict[str, CodeRecord]) -> bytes:
    """The device's status as the projection stores it, but its state (msgpack)."""
    license = None
    if device.license is not None:
        code = codes[device.license]
        ref = code.ref
        license = (
            ref.tail,
            ref.well_formed,
            code.kind,
            code.first_activated_at,
            code.expires_at,
            code.purchased_at,
        )
    backup = device.backup
    if backup is None:
        return _pack.encode((license, None))
    return _pack.encode(
        (
            license,
            (
                backup.tail,
                backup.well_formed,
                device.backup_state,
                device.backup_added_at,
                device.backup_failure,
            ),
        )
    )


def unpack_status(state: str, packed: bytes) -> StoredStatus:
    """The stored status from a row's state and the last packed status at or before it.

    Raises ``msgspec.DecodeError`` (or ``ValidationError``) for bytes that are not one.
    """
    license, backup = _unpack.decode(packed)
    return StoredStatus(
        state=state,
        license=None
        if license is None
        else StoredLicense(
            code=_mask(license[0], license[1]),
            kind=license[2],
            activated_at=license[3],
            expires_at=license[4],
            purchased_at=license[5],
        ),
        backup=None
        if backup is None
        else BackupView(
            code=_mask(backup[0], backup[1]), state=backup[2], added_at=backup[3], failure=backup[4]
        ),
        actions=status_actions(
            state, license is not None, backup is not None, None if backup is None else backup[2]
        ),
    )


def _mask(tail: str, well_formed: bool) -> str:
    return mask(CodeRef(sha256="", tail=tail, well_formed=well_formed))


class LastStatus:
    """The packed status stored last for each device, to store a status only where it changed.

    ``stored`` looks up a device this memory has not seen (a device appended
    by an earlier process); replaying from the first event needs none.
    """

    def __init__(self, stored: Callable[[str], bytes | None] | None = None) -> None:
        self._last: dict[str, bytes] = {}
        self._stored = stored

    def changed(self, device: str, packed: bytes, *, new: bool = False) -> bool:
        """True, and remembered, when ``packed`` differs from the device's last status.

        ``new``: the device has no status yet (its registration), nothing to look up.
        """
        last = self._last
        previous = last.get(device)
        if previous is None and not new and self._stored is not None:
            previous = self._stored(device)
        if previous == packed:
            return False
        last[device] = packed
        return True

    def forget(self) -> None:
        """Forget everything (after a rolled-back batch, or events appended by others)."""
        self._last.clear()


def derive(world: World, seq: int, event: Event, outcome: Outcome, last: LastStatus) -> Projected:
    """The projection of event ``seq``, given the world right after applying it."""
    detail = None if outcome.detail is None else _json.encode(outcome.detail).decode()
    evidence = _json.encode(outcome.evidence).decode() if outcome.evidence else None
    result = ResultRow(seq, outcome.result, outcome.reason, detail, evidence)
    device: str | None = getattr(event, "device", None)
    if device is not None:
        record = world.devices[device]
        packed = pack_status(record, world.codes)
        changed = last.changed(device, packed, new=isinstance(event, DeviceRegistered))
        return result, [StatusRow(device, seq, record.state, packed if changed else None)]
    if isinstance(event, CodeBlocked) and outcome.detail is not None:
        # The devices whose active license the block reached: the event names none of them.
        statuses = []
        for name in sorted(outcome.detail["blocked_devices"]):
            record = world.devices[name]
            packed = pack_status(record, world.codes)
            statuses.append(
                StatusRow(name, seq, record.state, packed if last.changed(name, packed) else None)
            )
        return result, statuses
    return result, []


def replay_rows(
    world: World, rows: Iterable[tuple[int, int, str]], last: LastStatus | None = None
) -> Iterator[tuple[int, AnyEvent, Projected]]:
    """Apply stored ``(seq, schema version, payload)`` rows in order; yield each projection."""
    apply = world.apply
    memory = LastStatus() if last is None else last
    for seq, version, payload in rows:
        event = decode_stored(payload, version)
        yield seq, event, derive(world, seq, event, apply(event), memory)

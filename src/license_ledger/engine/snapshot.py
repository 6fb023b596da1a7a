"""The snapshot codec: the whole state as bytes, and back into a world.

A store saves a snapshot now and then so that opening a big log does not
replay it from the start (docs/storage.md). The bytes are msgpack, deflated
(zlib, the fastest level: a quarter of the size for ~0.2 s a million
records): an array of the format version (:data:`SNAPSHOT_FORMAT`), the
device records, the code records, the time of the last event and its seq. A
snapshot is derived data:
:func:`load` refuses bytes of another format with a ``ValueError`` and the
store replays the log instead.
"""

from __future__ import annotations

import zlib
from datetime import datetime

import msgspec

from .records import CodeRecord, DeviceRecord
from .state import State
from .world import World

__all__ = ["SNAPSHOT_FORMAT", "dump", "load", "same_state"]

#: The version of the bytes :func:`dump` writes. Bump it on any change of
#: the records or of this layout. (1 was the layout without a version, 2 not deflated,
#: 3 without the records' evidence seqs.)
SNAPSHOT_FORMAT = 4


class _Header(msgspec.Struct, array_like=True):
    """The first element of every snapshot, read before the rest."""

    format: int


class _Snapshot(msgspec.Struct, array_like=True):
    format: int
    devices: list[DeviceRecord]
    codes: list[CodeRecord]
    last_at: datetime | None
    count: int


def dump(world: State) -> bytes:
    """The whole state as bytes (msgpack), to resume replay without the log."""
    return zlib.compress(
        msgspec.msgpack.encode(
            _Snapshot(
                SNAPSHOT_FORMAT,
                list(world.devices.values()),
                list(world.codes.values()),
                world.last_at,
                world.count,
            )
        ),
        1,
    )


def load(data: bytes) -> World:
    """A world restored from :func:`dump`; ``ValueError`` for bytes that are not such a snapshot."""
    try:
        data = zlib.decompress(data)
        header = msgspec.msgpack.decode(data, type=_Header)
    except (zlib.error, msgspec.DecodeError, TypeError, RecursionError) as exc:
        raise ValueError(f"not a snapshot of format {SNAPSHOT_FORMAT}: {_line(exc)}") from None
    if header.format != SNAPSHOT_FORMAT:
        raise ValueError(f"a snapshot of format {header.format}, not {SNAPSHOT_FORMAT}")
    try:
        snap = msgspec.msgpack.decode(data, type=_Snapshot)
    except (msgspec.DecodeError, TypeError, RecursionError) as exc:
        raise ValueError(
            f"a snapshot of format {SNAPSHOT_FORMAT} that does not decode: {_line(exc)}"
        ) from None
    world = World()
    world.devices = {d.id: d for d in snap.devices}
    world.codes = {c.ref.sha256: c for c in snap.codes}
    world.last_at = snap.last_at
    world.count = snap.count
    return world


def same_state(a: State, b: State) -> bool:
    """True when both hold exactly the same records, last time and count."""
    return a.devices == b.devices and a.codes == b.codes and a.last_at == b.last_at and a.count == b.count


def _line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__

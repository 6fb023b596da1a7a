"""Audit: verify a store against its own log, and replay it from scratch.

``verify`` trusts nothing derived: it walks the hash chain row by row,
checks the columns copied out of each payload, replays every event and
compares the stored results, statuses and effects (the projection) and the
snapshot with what replay derives. It names the first seq that is wrong.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import msgspec

from ..engine.codec import DECODER, decode_stored
from ..engine.events import SCHEMA_VERSION
from ..engine.moments import sortable_time
from ..engine.snapshot import load as load_snapshot
from ..engine.snapshot import same_state
from ..engine.views import stored_status
from ..engine.world import World
from .chain import GENESIS, link
from .protocol import Backend, Effect

__all__ = ["ReplaySummary", "VerifyReport", "bulk", "replay_into", "summarise", "verify"]

_json = msgspec.json.Encoder()


class VerifyReport(msgspec.Struct, frozen=True):
    """What ``verify`` found: ``ok``, else the first bad seq and what is wrong there."""

    ok: bool
    events: int
    head_seq: int
    head_hash: str | None
    first_bad_seq: int | None = None
    problem: str | None = None


class ReplaySummary(msgspec.Struct, frozen=True):
    """A whole-log replay, summarised."""

    events: int
    as_of: datetime | None
    devices: int
    devices_by_state: dict[str, int]
    results: dict[str, int]


@contextmanager
def bulk() -> Iterator[None]:
    """Pause the cyclic garbage collector during a bulk replay.

    Replay allocates many short-lived objects, none of them in cycles; the
    collector's passes over the world's hundreds of thousands of tracked
    sets and dicts cost about 5 % of a replay and find nothing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def replay_into(world: World, rows: Iterable[tuple[int, str]]) -> None:
    """Apply stored payloads ``(schema version, payload)`` to a world, in order."""
    apply = world.apply
    decode = DECODER.decode
    with bulk():
        for version, payload in rows:
            apply(decode(payload) if version == SCHEMA_VERSION else decode_stored(payload, version))


def summarise(
    backend: Backend, *, as_of: datetime | None = None, progress: Callable[[int], None] | None = None
) -> ReplaySummary:
    """Replay the whole log (up to ``as_of``) into a fresh world and count."""
    world = World()
    apply = world.apply
    decode = DECODER.decode
    counts: dict[tuple[str, str | None], int] = {}
    at_most = None if as_of is None else sortable_time(as_of)
    # The hot loop of an audit: one decode and one fold per event, nothing else.
    with bulk():
        for version, payload in backend.payloads(at_most=at_most):
            event = decode(payload) if version == SCHEMA_VERSION else decode_stored(payload, version)
            outcome = apply(event)
            key = (outcome.result, outcome.reason)
            counts[key] = counts.get(key, 0) + 1
            if progress is not None and not world.count % 10_000:
                progress(10_000)
    if progress is not None:
        progress(world.count % 10_000)
    states = Counter(device.state for device in world.devices.values())
    results = {
        result if reason is None else f"{result}: {reason}": n for (result, reason), n in counts.items()
    }
    return ReplaySummary(
        events=world.count,
        as_of=as_of,
        devices=len(world.devices),
        devices_by_state=dict(sorted(states.items())),
        results=dict(sorted(results.items())),
    )


def verify(backend: Backend, *, expect_head: tuple[int, str] | None = None) -> VerifyReport:
    """Check chain, columns, projection, effects and snapshot; name the first bad seq."""
    world = World()
    previous = GENESIS
    expected_effects: list[Effect] = []
    snapshot = backend.snapshot()
    seq = 0

    def bad(at: int, problem: str) -> VerifyReport:
        return VerifyReport(False, seq, seq, None, first_bad_seq=at, problem=problem)

    for row in backend.events():
        if row.seq != seq + 1:
            return bad(seq + 1, f"seq {seq + 1} is missing (the next row is seq {row.seq})")
        seq = row.seq
        if link(previous, row.seq, row.payload) != row.hash:
            return bad(
                seq,
                "the hash does not match: this row was altered, or rows before it were removed or reordered",
            )
        previous = row.hash
        if not 1 <= row.v <= SCHEMA_VERSION:
            # Checked first: decoding would raise for a version it cannot upcast.
            return bad(
                seq,
                f"column v says {row.v}, not a schema version this license-ledger knows (1 to {SCHEMA_VERSION})",
            )
        try:
            event = decode_stored(row.payload, row.v)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return bad(seq, f"the payload does not decode ({exc})")
        copied: dict[str, Any] = {
            "type": type(event).__name__,
            "at": sortable_time(event.at) if event.at else None,
            "device": getattr(event, "device", None),
            "id": event.id,
        }
        for column, value in copied.items():
            if getattr(row, column) != value:
                return bad(seq, f"column {column} says {getattr(row, column)!r}, the payload {value!r}")
        outcome = world.apply(event)
        detail = None if outcome.detail is None else _json.encode(outcome.detail).decode()
        if (row.result, row.reason, row.detail) != (outcome.result, outcome.reason, detail):
            return bad(
                seq,
                f"stored result {row.result}/{row.reason} differs from replay {outcome.result}/{outcome.reason}",
            )
        device = copied["device"]
        status = None
        if device is not None:
            status = _json.encode(stored_status(world.devices[device], world.codes)).decode()
        if row.status != status:
            return bad(seq, "the stored status after this event differs from replay")
        if outcome.detail is not None and "blocked_devices" in outcome.detail:
            for blocked in outcome.detail["blocked_devices"]:
                state = _json.encode(stored_status(world.devices[blocked], world.codes)).decode()
                expected_effects.append(Effect(seq, blocked, copied["at"], state))
        if snapshot is not None and snapshot[0] == seq and not same_state(load_snapshot(snapshot[1]), world):
            return bad(seq, "the snapshot taken at this seq differs from replay")
    if snapshot is not None and snapshot[0] > seq:
        return bad(seq + 1, f"a snapshot exists at seq {snapshot[0]}, beyond the last event")
    stored_effects = sorted(backend.effects(), key=lambda e: (e.seq, e.device))
    expected_effects.sort(key=lambda e: (e.seq, e.device))
    for stored, expected in zip(stored_effects, expected_effects, strict=False):
        if stored != expected:
            return bad(min(stored.seq, expected.seq), "a stored effect of CodeBlocked differs from replay")
    if len(stored_effects) != len(expected_effects):
        # Name the event of the first effect that is missing or extra, not the last event.
        longer, shorter = sorted((stored_effects, expected_effects), key=len, reverse=True)
        unmatched = longer[len(shorter)]
        return bad(unmatched.seq, "the stored effects of CodeBlocked differ from replay in number")
    head_hash = previous if seq else None
    if expect_head is not None:
        want_seq, want_hash = expect_head
        if want_seq > seq:
            return bad(seq + 1, f"the noted head is seq {want_seq}, but the log ends at seq {seq}: truncated")
        found = next(iter(backend.events(after=want_seq - 1, limit=1)), None) if want_seq else None
        if found is None or found.hash != want_hash:
            return bad(want_seq, "the hash at the noted head differs: history was rewritten")
    return VerifyReport(True, seq, seq, head_hash)

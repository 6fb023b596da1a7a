"""Audit: verify a store against its own log, replay it from scratch, rebuild its projection.

``verify`` trusts nothing derived: inside one read transaction it walks the
hash chain row by row, checks the columns copied out of each payload,
replays every event and compares the stored projection (results, the status
after each event) and the snapshot with what :func:`projection.derive`
derives. It names the first seq that is wrong. ``rebuild`` throws the
projection away and stores that derivation instead.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import msgspec

from ..engine.codec import DECODER, decode_stored
from ..engine.events import SCHEMA_VERSION, AnyEvent
from ..engine.moments import sortable_time
from ..engine.snapshot import SNAPSHOT_FORMAT, same_state
from ..engine.snapshot import dump as dump_world
from ..engine.snapshot import load as load_world
from ..engine.world import World
from .chain import GENESIS
from .projection import LastStatus, Projected, derive, replay_rows
from .protocol import Backend, ResultRow, Snapshot, StatusRow, StoredEvent

__all__ = [
    "UNPROVEN",
    "ReplaySummary",
    "VerifyReport",
    "bulk",
    "load_snapshot",
    "make_snapshot",
    "rebuild",
    "replay_into",
    "summarise",
    "verify",
]

#: Events decoded at once by replay: one decoder call for a JSON array of them.
_BATCH = 10_000
_batch_decoder = msgspec.json.Decoder(list[AnyEvent])

#: What a chain alone cannot prove (said by every verify without a noted head).
UNPROVEN = (
    "a chain cannot show that events were removed from its end: "
    "note the head and pass it to --expect-head next time"
)


class VerifyReport(msgspec.Struct, frozen=True):
    """What ``verify`` found: ``ok``, else the first bad seq and what is wrong there."""

    ok: bool
    events: int
    head_seq: int
    head_hash: str | None
    first_bad_seq: int | None = None
    problem: str | None = None
    #: What this verify could not prove (without a noted head: truncation).
    unproven: str | None = None


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
    with bulk():
        for version, payload in rows:
            apply(decode_stored(payload, version))


# --- snapshots -----------------------------------------------------------------------


def make_snapshot(world: World, chain_hash: str) -> Snapshot:
    """The world as a snapshot, tied to the chain hash of its last event."""
    return Snapshot(world.count, chain_hash, SNAPSHOT_FORMAT, dump_world(world))


def load_snapshot(backend: Backend, saved: Snapshot | None) -> World | None:
    """The saved world, if it can be trusted: its format, seq and chain hash match the log."""
    if saved is None or saved.format != SNAPSHOT_FORMAT or saved.seq < 1:
        return None
    at_seq = next(iter(backend.events(after=saved.seq - 1, limit=1)), None)
    if at_seq is None or at_seq.seq != saved.seq or at_seq.hash != saved.chain_hash:
        return None
    try:
        world = load_world(saved.world)
    except ValueError:  # another format, or bytes that do not decode
        return None
    return world if world.count == saved.seq else None


# --- replay, rebuild -------------------------------------------------------------------


def summarise(
    backend: Backend, *, as_of: datetime | None = None, progress: Callable[[int], None] | None = None
) -> ReplaySummary:
    """Replay the whole log (up to ``as_of``) into a fresh world and count."""
    world = World()
    apply = world.apply
    counts: dict[tuple[str, str | None], int] = {}
    at_most = None if as_of is None else sortable_time(as_of)
    # The hot loop of an audit: one fold per event, nothing else; decoding is a call per batch.
    with bulk():
        for events in _event_batches(backend, at_most):
            for event in events:
                outcome = apply(event)
                key = (outcome.result, outcome.reason)
                counts[key] = counts.get(key, 0) + 1
            if progress is not None:
                progress(len(events))
    results = {
        result if reason is None else f"{result}: {reason}": n for (result, reason), n in counts.items()
    }
    states = Counter(device.state for device in world.devices.values())
    return ReplaySummary(
        events=world.count,
        as_of=as_of,
        devices=len(world.devices),
        devices_by_state=dict(sorted(states.items())),
        results=dict(sorted(results.items())),
    )


def _event_batches(backend: Backend, at_most: str | None) -> Iterator[list[AnyEvent]]:
    """The stored events in order, decoded a batch at a time.

    A backend that can hand out a batch of payloads as one JSON array
    (``payload_batches``) saves a decoder call per event; others are read row by row.
    """
    batches = getattr(backend, "payload_batches", None)
    if batches is None:
        rows = backend.payloads(at_most=at_most)
        while chunk := list(itertools.islice(rows, _BATCH)):
            yield [decode_stored(payload, version) for version, payload in chunk]
        return
    for batch in batches(at_most=at_most, size=_BATCH, version=SCHEMA_VERSION):
        if isinstance(batch, str):
            yield _batch_decoder.decode(batch)
        else:  # rows of an older version among them: each through its upcasters
            yield [decode_stored(payload, version) for version, payload in batch]


def rebuild(
    backend: Backend,
    progress: Callable[[int], None] | None = None,
    *,
    snapshot_every: int = 0,
    keep: int = 1,
) -> World:
    """Derive the whole projection anew from the log and store it (inside a write transaction).

    Snapshots are taken at the head and, every ``snapshot_every`` events,
    at the ``keep - 1`` multiples before it (those an append would have kept).
    """
    world = World()
    head, head_hash = backend.head()
    wanted = _snapshot_points(head, snapshot_every, keep)

    def projected() -> Iterator[Projected]:
        for seq, _, rows in replay_rows(world, backend.numbered_payloads()):
            if progress is not None and not seq % _BATCH:
                progress(_BATCH)
            yield rows
            if seq in wanted:
                at_seq = next(iter(backend.events(after=seq - 1, limit=1)))
                backend.save_snapshot(make_snapshot(world, at_seq.hash), keep)

    with bulk():
        backend.replace_projection(projected())
    if progress is not None:
        progress(world.count % _BATCH)
    if head and head_hash is not None:
        backend.save_snapshot(make_snapshot(world, head_hash), keep)
    return world


def _snapshot_points(head: int, every: int, keep: int) -> set[int]:
    if every <= 0 or keep <= 1:
        return set()
    last = (head - 1) // every * every  # the last multiple before the head
    return {seq for seq in range(last, last - (keep - 1) * every, -every) if seq > 0}


# --- verify ------------------------------------------------------------------------------


def verify(
    backend: Backend,
    *,
    expect_head: tuple[int, str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Check chain, columns, projection and snapshot in one read transaction; name the first bad seq."""
    with backend.read_transaction(), bulk():
        return _verify(backend, expect_head, progress)


def _verify(
    backend: Backend, expect_head: tuple[int, str] | None, progress: Callable[[int], None] | None
) -> VerifyReport:
    world = World()
    apply = world.apply
    last = LastStatus()
    previous = GENESIS
    # Stored rows are compared as the backend returns them (tuples of the
    # stored text and bytes) with the rows derived anew: nothing stored is decoded.
    stored_results = iter(backend.results())
    stored_statuses = iter(backend.statuses())
    next_status = next(stored_statuses, None)
    snapshots = backend.snapshot_seqs()
    checked = set(snapshots)
    seq = 0

    def bad(at: int, problem: str) -> VerifyReport:
        return VerifyReport(False, seq, seq, None, first_bad_seq=at, problem=problem)

    sha256 = hashlib.sha256
    decode = DECODER.decode
    for row in backend.fact_rows():
        row_seq, row_type, row_at, row_device, row_key, version, payload, row_hash = row
        if row_seq != seq + 1:
            return bad(seq + 1, f"seq {seq + 1} is missing (the next row is seq {row_seq})")
        seq = row_seq
        # chain.link, inlined: the one per-row cost replay does not have.
        if sha256(f"{previous}|{seq}|{payload}".encode()).hexdigest() != row_hash:
            return bad(
                seq,
                "the hash does not match: this row was altered, or rows before it were removed or reordered",
            )
        previous = row_hash
        if version == SCHEMA_VERSION:
            try:
                event = decode(payload)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                return bad(seq, f"the payload does not decode ({exc})")
        elif not 1 <= version <= SCHEMA_VERSION:
            # Checked first: decoding would raise for a version it cannot upcast.
            return bad(
                seq,
                f"column schema_version says {version}, not a schema version this "
                f"license-ledger knows (1 to {SCHEMA_VERSION})",
            )
        else:
            try:
                event = decode_stored(payload, version)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                return bad(seq, f"the payload does not decode ({exc})")
        if (
            row_type != type(event).__name__
            or row_device != getattr(event, "device", None)
            or row_key != event.id
            or event.at is None
            or row_at != sortable_time(event.at)
        ):
            return bad(seq, _column_problem(StoredEvent(*row), event))
        result, statuses = derive(world, seq, event, apply(event), last)
        stored = next(stored_results, None)
        if stored != result:
            return bad(seq, _result_problem(stored, result))
        if next_status is not None and next_status[1] == seq and len(statuses) == 1:
            # The common case: one status row, stored and derived.
            if next_status != statuses[0]:
                return bad(seq, _status_problem(seq, [next_status], statuses))
            next_status = next(stored_statuses, None)
        elif statuses or (next_status is not None and next_status[1] <= seq):
            stored_here = []
            while next_status is not None and next_status[1] <= seq:
                stored_here.append(next_status)
                next_status = next(stored_statuses, None)
            if stored_here != statuses:
                return bad(seq, _status_problem(seq, stored_here, statuses))
        if seq in checked:
            snapshot = backend.snapshot(up_to=seq)
            assert snapshot is not None
            problem = _snapshot_problem(snapshot, row_hash, world)
            if problem is not None:
                return bad(seq, problem)
        if progress is not None and not seq % _BATCH:
            progress(_BATCH)
    if progress is not None:
        progress(seq % _BATCH)
    extra = next(stored_results, None)
    beyond = extra[0] if extra is not None else next_status[1] if next_status is not None else None
    if beyond is not None:
        return bad(
            beyond,
            f"the projection holds seq {beyond}, beyond the last event (seq {seq}): "
            "events were removed from the end of the log",
        )
    if snapshots and snapshots[-1] > seq:
        return bad(seq + 1, f"a snapshot claims seq {snapshots[-1]}, beyond the last event (seq {seq})")
    head_hash = previous if seq else None
    if expect_head is None:
        return VerifyReport(True, seq, seq, head_hash, unproven=UNPROVEN)
    want_seq, want_hash = expect_head
    if want_seq > seq:
        return bad(seq + 1, f"the noted head is seq {want_seq}, but the log ends at seq {seq}: truncated")
    found = next(iter(backend.events(after=want_seq - 1, limit=1)), None) if want_seq else None
    if found is None or found.hash != want_hash:
        return bad(want_seq, "the hash at the noted head differs: history was rewritten")
    return VerifyReport(True, seq, seq, head_hash)


def _column_problem(row: StoredEvent, event: AnyEvent) -> str:
    copied: dict[str, Any] = {
        "type": type(event).__name__,
        "at": sortable_time(event.at) if event.at else None,
        "device": getattr(event, "device", None),
        "idempotency_key": event.id,
    }
    column, value = next((c, v) for c, v in copied.items() if getattr(row, c) != v)
    return f"column {column} says {getattr(row, column)!r}, the payload {value!r}"


def _result_problem(
    stored: tuple[int, str, str | None, str | None, str | None] | None, derived: ResultRow
) -> str:
    if stored is None or stored[0] != derived.seq:
        return "no stored result for this event (the projection is incomplete: `rebuild` derives it)"
    stored_row = ResultRow(*stored)
    return (
        f"stored result {stored_row.result}/{stored_row.reason} differs from replay {derived.result}/{derived.reason}"
        if (stored_row.result, stored_row.reason) != (derived.result, derived.reason)
        else "the stored details of this result differ from replay"
        if stored_row.detail != derived.detail
        else "the stored evidence of this result differs from replay"
    )


def _status_problem(
    seq: int, stored: list[tuple[str, int, str, bytes | None]], derived: list[StatusRow]
) -> str:
    expected = {row.device: row for row in derived}
    for device, at, _, _ in stored:
        if at != seq or device not in expected:
            return f"a status of {device} is stored for this event, but replay has none"
    found = {row[0]: row for row in stored}
    device = next(name for name, row in expected.items() if found.get(name) != row)
    return f"the stored status of {device} after this event differs from replay"


def _snapshot_problem(stored: Snapshot, chain_hash: str, world: World) -> str | None:
    if stored.format != SNAPSHOT_FORMAT:
        return f"the snapshot at this seq has format {stored.format}, not {SNAPSHOT_FORMAT} (it is not used)"
    if stored.chain_hash != chain_hash:
        return "the snapshot at this seq names another chain hash (it is not used)"
    try:
        saved = load_world(stored.world)
    except ValueError:
        return "the snapshot at this seq does not decode (it is not used)"
    if not same_state(saved, world):
        return "the snapshot taken at this seq differs from replay"
    return None

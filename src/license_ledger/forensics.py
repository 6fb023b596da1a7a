"""The forensic questions of the embedded API: diff, first, devices, what-if.

:class:`Forensics` is the part of :class:`~license_ledger.ledger.Ledger`
that answers "what changed between two moments", "since when", "which
devices were in this state" and "what if this had not happened". Each is an
indexed read of the projection (``diff``, ``first``, ``devices``), or a
replay in memory from the last snapshot before the first change
(``what_if``), which writes nothing. The pure parts live in
:mod:`license_ledger.engine.forensics`.

Layer: below the ledger (which inherits these methods), above the store.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from itertools import islice
from typing import Any, ParamSpec, TypeVar

import msgspec

from .engine.codec import decode_stored, event_from_object, seal
from .engine.events import AnyEvent
from .engine.forensics.diff import changes
from .engine.forensics.matching import Wanted
from .engine.forensics.views import DeviceChange, DeviceState, Diff, FirstMatch, WhatIf
from .engine.forensics.whatif import Changes, Stored, replay_with_changes
from .engine.moments import format_time, moment, parse_moment, sortable_time
from .engine.views import DeviceStatus, StoredStatus, TraceEntry
from .engine.vocabulary import ACTIONS, BACKUP_STATES, REASONS, RESULTS, STATES
from .engine.world import World
from .errors import InputRefused, UnknownDevice
from .store import audit
from .store.projection import unpack_status
from .store.protocol import Backend, ResultRow, TraceRow

__all__ = ["Forensics", "decode_evidence", "time_range", "trace_entries", "translated"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

_detail_decoder = msgspec.json.Decoder(dict[str, Any])
_evidence_decoder = msgspec.json.Decoder(list[int])


def translated(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn the backend's own errors (a damaged or unwritable store) into one-line LedgerErrors."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        backend: Backend = args[0]._backend  # type: ignore[attr-defined]
        try:
            return method(*args, **kwargs)
        except backend.errors as exc:
            raise backend.translate(exc) from None

    return wrapper


def decode_evidence(text: str | None) -> tuple[int, ...]:
    """A stored evidence column as seqs (NULL: none)."""
    return () if text is None else tuple(_evidence_decoder.decode(text))


def time_range(since: datetime | str | None, until: datetime | str | None) -> tuple[str | None, str | None]:
    """``--from`` and ``--to`` as the store's sortable times; refused when ``to`` comes first."""
    start, end = moment(since, field="from"), moment(until, field="to")
    if start is not None and end is not None and end < start:
        raise InputRefused(f"a `to` at or after `from` ({format_time(start)})", format_time(end), field="to")
    return (
        None if start is None else sortable_time(start),
        None if end is None else sortable_time(end),
    )


def trace_entries(rows: Iterable[TraceRow]) -> list[TraceEntry]:
    """Stored trace rows as the API answers them."""
    return [
        TraceEntry(
            seq=row.seq,
            type=row.type,
            at=parse_moment(row.at, field="at"),
            result=row.result,
            reason=row.reason,
            detail=None if row.detail is None else _detail_decoder.decode(row.detail),
            state=row.state,
            evidence=decode_evidence(row.evidence),
        )
        for row in rows
    ]


def _choice(value: str | None, allowed: list[str], field: str) -> str | None:
    if value is None or value in allowed:
        return value
    shown = repr(value) if len(value) <= 40 else repr(value[:37]) + "..."
    raise InputRefused(f"one of {', '.join(allowed)}", shown, field=field)


def _stored(row: tuple[int, str, str, bytes]) -> StoredStatus:
    """A stored status row ``(seq, at, state, packed)`` as the status it records."""
    return unpack_status(row[2], row[3])


def _judged(device: str, row: tuple[int, str, str, bytes]) -> DeviceStatus:
    """A stored status row, judged at its own event's time."""
    return _stored(row).at(device, parse_moment(row[1], field="at"))


class Forensics:
    """Diff, first, devices and what-if: mixed into the Ledger."""

    _backend: Backend
    _clock: Callable[[], datetime]

    # --- diff ------------------------------------------------------------------------------

    @translated
    def diff(self, device: str, since: datetime | str, until: datetime | str | None = None) -> Diff:
        """The device's status at ``since`` and at ``until`` (default: now), each field that changed
        with the event that changed it last, and the events between."""
        start = moment(since, field="from")
        if start is None:
            raise InputRefused("a `from` moment (RFC 3339)", "none", field="from")
        end = moment(until, field="to") or self._clock()
        after_at, at_most = time_range(start, end)
        assert after_at is not None and at_most is not None
        backend = self._backend
        with backend.read_transaction():
            first, last = backend.seq_at(after_at), backend.seq_at(at_most)
            base = backend.status_before(device, first)
            final = backend.status_before(device, last)
            if final is None:
                raise UnknownDevice(device, format_time(end))
            steps = [(row[0], _judged(device, row)) for row in backend.status_rows(device, first, last)]
            events = trace_entries(backend.device_trace(device, after_at, at_most))
        before = None if base is None else _stored(base).at(device, start)
        after = _stored(final).at(device, end)
        baseline = None if base is None else _judged(device, base)
        found = changes(before, after, baseline, steps)
        return Diff(device, start, end, before, after, found, events)

    # --- first -----------------------------------------------------------------------------

    @translated
    def first(
        self,
        device: str,
        *,
        state: str | None = None,
        backup_state: str | None = None,
        action: str | None = None,
        result: str | None = None,
        reason: str | None = None,
        after: datetime | str | None = None,
    ) -> FirstMatch:
        """The first event (after ``after``) after which the device's status matches; all None
        when it never did. An indexed search of the stored statuses, not a replay."""
        wanted = Wanted(
            _choice(state, STATES, "state"),
            _choice(backup_state, BACKUP_STATES, "backup_state"),
            _choice(action, ACTIONS, "action"),
            _choice(result, RESULTS, "result"),
            _choice(reason, REASONS, "reason"),
        )
        if not wanted.describe():
            raise InputRefused(
                "at least one of state, backup_state, action, result, reason", "none", field="state"
            )
        since = moment(after, field="after")
        backend = self._backend
        with backend.read_transaction():
            head = backend.head()[0]
            if backend.status_before(device, head) is None:
                raise UnknownDevice(device)
            start = 0 if since is None else backend.seq_at(sortable_time(since))
            rows = backend.status_rows(
                device, start, head, state=wanted.state, result=wanted.result, reason=wanted.reason
            )
            for row in rows:
                stored = _stored(row)
                if wanted.matches(stored):
                    when = parse_moment(row[1], field="at")
                    return FirstMatch(device, row[0], when, stored.at(device, when))
        return FirstMatch(device, None, None, None)

    # --- devices ---------------------------------------------------------------------------

    @translated
    def devices(
        self,
        state: str | None = None,
        as_of: datetime | str | None = None,
        *,
        after: str = "",
        limit: int | None = None,
    ) -> list[DeviceState]:
        """The devices and their state as of ``as_of`` (default: now), by name after ``after``;
        only those in ``state``; at most ``limit``. One pass over an index, not a replay."""
        wanted = _choice(state, STATES, "state")
        when = moment(as_of, field="as_of") or self._clock()
        backend = self._backend
        with backend.read_transaction():
            up_to = backend.seq_at(sortable_time(when))
            rows = backend.states(up_to, wanted, after, limit)
        return [DeviceState(device, found) for device, found in rows]

    # --- what if ---------------------------------------------------------------------------

    @translated
    def what_if(
        self,
        drop: Iterable[int] = (),
        insert: Mapping[int, Iterable[Any]] | Iterable[tuple[int, Iterable[Any]]] = (),
        as_of: datetime | str | None = None,
    ) -> WhatIf:
        """Replay the log in memory with the events ``drop`` left out and events inserted after
        seqs (``insert``: ``{seq: [events]}``, 0 for before the first; raw codes or fingerprints,
        ``at`` defaulting to the time of the event at that seq). Answers which stored events would
        get another result and which devices another status as of ``as_of`` (default: now).
        Nothing is written. A change that makes the log invalid is refused as an append would
        refuse it, naming the seq."""
        pairs = insert.items() if isinstance(insert, Mapping) else insert
        inserted: dict[int, list[AnyEvent]] = {}
        for after, events in pairs:
            batch = inserted.setdefault(_whole(after, "insert.after"), [])
            for line, given in enumerate(events, start=len(batch) + 1):
                try:
                    batch.append(seal(event_from_object(given, line=line), line=line))
                except InputRefused as refused:
                    raise refused.at_seq(after, inserted=True, line=line) from None
        dropped = frozenset(_whole(seq, "drop") for seq in drop)
        when = moment(as_of, field="as_of") or self._clock()
        backend = self._backend
        with backend.read_transaction():
            head = backend.head()[0]
            for seq in sorted(dropped):
                if not 1 <= seq <= head:
                    raise InputRefused(f"a stored seq, from 1 to {head}", str(seq), field="drop")
            for after in sorted(inserted):
                if not 0 <= after <= head:
                    raise InputRefused(f"a stored seq, from 0 to {head}", str(after), field="insert.after")
            plan = Changes(dropped, inserted)
            first = plan.first
            if first is None:
                return WhatIf(None, [], [], when)
            # From the last snapshot before the first change, up to it as replay does.
            world = audit.load_snapshot(backend, backend.snapshot(up_to=first - 1)) or World()
            rows = backend.numbered_payloads(after=world.count)
            with audit.bulk():
                world.apply_all(decode_stored(p, v) for _, v, p in islice(rows, first - 1 - world.count))
                run = replay_with_changes(world, self._stored(rows, first), plan, when)
            stored = backend.latest_statuses(list(run.statuses), backend.seq_at(sortable_time(when)))
        devices = []
        for device, now in run.statuses.items():
            found = stored.get(device)
            was = None if found is None else unpack_status(*found)
            if was != now:
                devices.append(
                    DeviceChange(
                        device,
                        None if was is None else was.at(device, when),
                        None if now is None else now.at(device, when),
                    )
                )
        kept = [event.seq for event in run.changed if event.now != "dropped"]
        return WhatIf(min(kept, default=None), run.changed, devices, when, run.inserted)

    def _stored(self, rows: Iterable[tuple[int, int, str]], first: int) -> Iterator[Stored]:
        """The stored events from seq ``first`` on, with their stored results."""
        results = self._backend.results(after=first - 1)
        for seq, version, payload in rows:
            event = decode_stored(payload, version)
            row = ResultRow(*next(results))
            assert row.seq == seq, "every stored event has a result"
            device: str | None = getattr(event, "device", None)
            if device is not None:
                devices: tuple[str, ...] = (device,)
            elif row.detail is not None and row.result == "blocked":
                devices = tuple(_detail_decoder.decode(row.detail).get("blocked_devices", ()))
            else:
                devices = ()
            yield seq, event, row.result, row.reason, devices


def _whole(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputRefused("a seq (a whole number)", repr(value)[:40], field=field)
    return value

"""The write path of a :class:`~license_ledger.ledger.Ledger`: one transaction per batch, or per group.

Take the writer lock, bring the in-memory world up to the log's head (other
processes may have appended), check and apply the batch, chain its facts,
derive its projection (``store.projection.derive``), insert, commit. A
refused event refuses its batch and nothing of it is written; in a group
(``append_many``) a refused batch is undone alone, through a savepoint of
the world's journal.

Layer: beside the ledger, which it serves (``Ledger`` mixes it in); below it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import msgspec

from .engine.codec import decode_stored, encode, event_from_object, seal, stamp
from .engine.events import AnyEvent, Event
from .engine.moments import sortable_time
from .engine.views import Appended
from .engine.world import World
from .errors import InputRefused, NeedsMigration
from .forensics import decode_evidence
from .forensics import translated as _translated
from .store import audit
from .store.chain import GENESIS, link
from .store.projection import LastStatus, derive
from .store.protocol import Backend, ResultRow, StatusRow, StoredEvent

__all__ = ["SNAPSHOTS_KEPT", "Writing"]

_detail_decoder = msgspec.json.Decoder(dict[str, Any])

#: Batches up to this many events keep an undo journal, so that a refusal
#: rolls the world back in memory; bigger ones drop the world instead.
_JOURNAL_UP_TO = 10_000
#: A progress callback hears of this many events at a time.
_PROGRESS_EVERY = 10_000
#: How many snapshots a store keeps (the latest): a what-if starts from the last one
#: before its first change, so a change near the end of a long log costs little.
SNAPSHOTS_KEPT = 2


class Writing:
    """Appending, for the Ledger that mixes it in (its state is the Ledger's)."""

    _backend: Backend
    _clock: Callable[[], datetime]
    _world: World | None
    _snapshot_seq: int
    _snapshot_every: int
    _last: LastStatus

    def _append(
        self, numbered: list[tuple[int, AnyEvent]], progress: Callable[[int], None] | None = None
    ) -> list[Appended]:
        # Stateless checks first: a malformed batch never takes the lock.
        sealed = [(line, seal(event, line=line)) for line, event in numbered]
        return self._write(lambda world: sealed, progress)

    @_translated
    def _write(
        self,
        make_batch: Callable[[World], list[tuple[int, AnyEvent]]],
        progress: Callable[[int], None] | None = None,
    ) -> list[Appended]:
        world: World | None = None
        if self._backend.projection_outdated:
            raise NeedsMigration(
                f"{getattr(self._backend, 'path', 'the store')}: its results were derived by an earlier "
                "license-ledger (without evidence); run `license-ledger rebuild` on it first "
                "(it keeps every event and the chain head)"
            )
        try:
            with self._backend.write_transaction():
                world, head_hash = self._caught_up()
                batch = make_batch(world)
                if len(batch) <= _JOURNAL_UP_TO:
                    world.begin()
                else:
                    # A big batch keeps no undo journal (it costs ~5 % of an append):
                    # if it is refused, the world is dropped and read again next time.
                    self._world = None
                appended, _ = self._write_batch(world, head_hash, batch, progress)
        except BaseException:
            if world is not None and world.in_batch:
                world.rollback()
            self._last.forget()
            raise
        if world.in_batch:
            world.commit()
        self._world = world
        return appended

    @_translated
    def _write_group(
        self, batches: Iterable[Iterable[Event | dict[str, Any]]]
    ) -> list[list[Appended] | InputRefused]:
        """Write each batch in its own savepoint of the world, all in one transaction."""
        world: World | None = None
        snapshot_seq = self._snapshot_seq
        answers: list[list[Appended] | InputRefused] = []
        try:
            with self._backend.write_transaction():
                world, head_hash = self._caught_up()
                world.begin()
                for events in batches:
                    world.savepoint()
                    try:
                        numbered = [(n, event_from_object(e, line=n)) for n, e in enumerate(events, start=1)]
                        batch = [(line, seal(event, line=line)) for line, event in numbered]
                        # Checked before anything of it is inserted: a refused batch wrote nothing.
                        appended, head_hash = self._write_batch(world, head_hash, batch)
                    except InputRefused as refused:
                        world.rollback_to_savepoint()
                        # The statuses it remembered as stored were not: look them up again.
                        self._last.forget()
                        answers.append(refused)
                    else:
                        answers.append(appended)
        except BaseException:
            if world is not None and world.in_batch:
                world.rollback()
            self._last.forget()
            self._snapshot_seq = snapshot_seq
            raise
        assert world is not None
        world.commit()
        return answers

    def _write_batch(
        self,
        world: World,
        head_hash: str | None,
        batch: list[tuple[int, AnyEvent]],
        progress: Callable[[int], None] | None = None,
    ) -> tuple[list[Appended], str | None]:
        seq, previous = world.count, head_hash or GENESIS
        facts: list[StoredEvent] = []
        results: list[ResultRow] = []
        statuses: list[StatusRow] = []
        appended: list[Appended] = []
        in_batch: dict[tuple[str | None, str], tuple[StoredEvent, ResultRow]] = {}
        for done, (line, event) in enumerate(batch, start=1):
            if progress is not None and not done % _PROGRESS_EVERY:
                progress(_PROGRESS_EVERY)
            device: str | None = getattr(event, "device", None)
            if event.id is not None:
                known = in_batch.get((device, event.id)) or self._stored_under(device, event.id)
                if known is not None:
                    appended.append(_repeat(event, *known, line))
                    continue
            if event.at is None:
                event = stamp(event, self._stamp_time(world))
            try:
                world.check(event)
            except InputRefused as refused:
                raise refused.at_line(line) from None
            outcome = world.apply(event)
            seq += 1
            payload = encode(event).decode()
            assert event.at is not None
            fact = StoredEvent(
                seq,
                type(event).__name__,
                sortable_time(event.at),
                device,
                event.id,
                event.v,
                payload,
                link(previous, seq, payload),
            )
            previous = fact.hash
            result, changed = derive(world, seq, event, outcome, self._last)
            facts.append(fact)
            results.append(result)
            statuses.extend(changed)
            if event.id is not None:
                in_batch[device, event.id] = (fact, result)
            appended.append(
                Appended(
                    seq,
                    fact.type,
                    event.at,
                    outcome.result,
                    outcome.reason,
                    outcome.detail,
                    evidence=outcome.evidence,
                )
            )
        self._backend.insert(facts, results, statuses)
        if facts and world.count - self._snapshot_seq >= self._snapshot_every:
            self._backend.save_snapshot(audit.make_snapshot(world, previous), SNAPSHOTS_KEPT)
            self._snapshot_seq = world.count
        return appended, previous if facts else head_hash

    def _stored_under(self, device: str | None, key: str) -> tuple[StoredEvent, ResultRow] | None:
        """The event and result stored under an idempotency key in the scope of ``device``."""
        known = self._backend.by_key(device, key)
        if known is None:
            return None
        result = self._backend.result_of(known.seq)
        assert result is not None, "every stored event has a result"
        return known, result

    def _stamp_time(self, world: World) -> datetime:
        # Never earlier than the last event: concurrent appenders must not
        # trip the time-order rule because their clocks differ a little.
        now = self._clock()
        return now if world.last_at is None or now >= world.last_at else world.last_at

    def _caught_up(self) -> tuple[World, str | None]:
        """The world as of the log's head, and the head's hash (call inside a transaction)."""
        head, head_hash = self._backend.head()
        if self._world is not None and head < self._world.count:
            # The file was replaced by a shorter copy behind our back: start over.
            self._world, self._snapshot_seq = None, 0
        if self._world is None:
            self._last.forget()
            snapshot = self._backend.snapshot()
            restored = audit.load_snapshot(self._backend, snapshot)
            self._world = restored if restored is not None else World()
            self._snapshot_seq = self._world.count
        if head != self._world.count:
            self._last.forget()  # others appended: their devices' last statuses are in the store
            audit.replay_into(self._world, self._backend.payloads(after=self._world.count))
        return self._world, head_hash


def _repeat(event: AnyEvent, known: StoredEvent, result: ResultRow, line: int) -> Appended:
    """An event whose key is stored: the same content answers, other content is refused."""
    stored = decode_stored(known.payload, known.schema_version)
    assert stored.at is not None
    candidate = event if event.at is not None else stamp(event, stored.at)
    if encode(candidate).decode() != known.payload:
        raise InputRefused(
            f"the same content as event {known.seq}, stored under this idempotency key",
            "different content",
            field="$.id",
            line=line,
            event_type=type(event).__name__,
        )
    detail = None if result.detail is None else _detail_decoder.decode(result.detail)
    evidence = decode_evidence(result.evidence)
    return Appended(
        known.seq,
        known.type,
        stored.at,
        result.result,
        result.reason,
        detail,
        stored=False,
        evidence=evidence,
    )

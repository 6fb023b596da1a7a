"""Group commit in the library: ``Ledger.append_many`` writes several batches in one transaction.

The law: appending batches together gives every batch exactly what appending
them one after the other gives (the same results, the same refusals, the
same log), on every backend. A refused batch stores nothing and disturbs
none of the batches it was written with.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from license_ledger.engine.codec import event_from_object, seal, stamp
from license_ledger.engine.snapshot import dump, load, same_state
from license_ledger.engine.views import Appended
from license_ledger.engine.world import World
from license_ledger.errors import InputRefused
from license_ledger.ledger import Ledger
from stores import (
    CODE_A,
    CODE_B,
    STORES,
    Clock,
    Store,
    at,
    entered,
    issued,
    registered,
    replayed_results,
    when,
)
from test_store_processes import check_seats_and_replay


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made = STORES[request.param](tmp_path)
    yield made
    made.close_all()


def answers_of(ledger: Ledger, batches: list[list[dict[str, Any]]]) -> list[Any]:
    """What appending each batch in turn answers: its results, or its refusal (as data)."""
    answers: list[Any] = []
    for events in batches:
        try:
            answers.append(ledger.append(events))
        except InputRefused as refused:
            answers.append(refused.as_dict())
    return answers


def as_data(answers: list[list[Appended] | InputRefused]) -> list[Any]:
    return [a.as_dict() if isinstance(a, InputRefused) else a for a in answers]


def stored_log(ledger: Ledger) -> list[tuple[Any, ...]]:
    return [(row.seq, row.payload, row.hash, row.result, row.reason, row.detail) for row in ledger.events()]


def _applied(world: World, events: list[dict[str, Any]]) -> None:
    for event in events:
        world.apply(stamp(seal(event_from_object(event)), when(1)))


def test_a_savepoint_of_the_world_undoes_its_own_part_alone() -> None:
    world = World()
    _applied(world, [issued(CODE_A, max_devices=1, at=at(0)), registered("a", at=at(0)), registered("b")])
    before = load(dump(world))
    world.begin()
    world.savepoint()
    _applied(world, [entered("a", CODE_A)])
    after_first = load(dump(world))
    world.savepoint()
    _applied(world, [{"type": "LicenseRemoved", "device": "a"}, entered("b", CODE_A), registered("c")])
    world.rollback_to_savepoint()
    assert same_state(world, after_first)
    world.savepoint()
    _applied(world, [entered("b", CODE_A), {"type": "CodeBlocked", "code": CODE_A}])
    world.rollback()
    assert same_state(world, before) and not world.in_batch


def test_a_refused_batch_refuses_only_itself_and_the_next_sees_the_state_before_it(store: Store) -> None:
    ledger = store.open(clock=Clock())
    ledger.append(
        [issued(CODE_A, max_devices=1, at=at(0)), registered("a", at=at(0)), registered("b", at=at(0))]
    )
    answers = ledger.append_many(
        [
            [entered("a", CODE_A)],  # takes the one seat
            [registered("c"), entered("b", CODE_A), {"type": "TryAgainClicked", "device": "nobody"}],
            [entered("b", CODE_A)],  # validated after the refused batch: the seat is a's
            [{"type": "CodeIssued", "code": CODE_B, "kind": "commercial", "term_days": 0, "max_devices": 1}],
            [registered("c"), {"type": "LicenseRemoved", "device": "a"}, entered("b", CODE_A)],
        ]
    )
    first, second, third, fourth, fifth = answers
    assert isinstance(first, list) and [a.result for a in first] == ["activated"]
    assert isinstance(second, InputRefused)
    assert (second.line, second.field, second.event_type) == (3, "$.device", "TryAgainClicked")
    assert "'nobody', never registered" in str(second)
    assert isinstance(third, list) and [(a.result, a.reason) for a in third] == [
        ("rejected", "device_limit_reached")
    ]
    assert isinstance(fourth, InputRefused) and (fourth.line, fourth.field) == (1, "$.term_days")
    assert isinstance(fifth, list)
    assert [(a.type, a.result) for a in fifth] == [
        ("DeviceRegistered", "recorded"),
        ("LicenseRemoved", "removed"),
        ("CodeEntered", "activated"),
    ]
    # Gapless seqs across the group; the refused batches took none.
    assert [a.seq for batch in (first, third, fifth) for a in batch] == [4, 5, 6, 7, 8]
    with store.open() as reader:
        check_seats_and_replay(reader)
        assert [row.device for row in reader.events(after=3)] == ["a", "b", "c", "a", "b"]


def test_a_group_answers_repeats_of_keys_stored_by_a_batch_before_it(store: Store) -> None:
    ledger = store.open(clock=Clock())
    ledger.append([issued(CODE_A, max_devices=3, at=at(0)), registered("a", at=at(0))])
    same = {"type": "TryAgainClicked", "device": "a", "id": "click-1"}
    answers = ledger.append_many(
        [[same], [same], [{**same, "type": "ActivateNowClicked"}], [entered("a", CODE_A, id="click-1")]]
    )
    first, repeat, conflict, other = answers
    assert isinstance(first, list) and isinstance(repeat, list)
    assert repeat == [msgspec.structs.replace(first[0], stored=False)]
    assert isinstance(conflict, InputRefused) and conflict.field == "$.id"
    assert isinstance(other, InputRefused) and "stored under this idempotency key" in str(other)
    assert [row.idempotency_key for row in ledger.events(after=2)] == ["click-1"]


def test_a_group_of_refusals_or_of_nothing_writes_nothing(store: Store) -> None:
    ledger = store.open(clock=Clock())
    assert ledger.append_many([]) == []
    [refused] = ledger.append_many([[{"type": "NoSuchEvent"}]])
    assert isinstance(refused, InputRefused) and refused.line == 1
    assert ledger.append_many([[], []]) == [[], []]
    assert ledger.events() == []


def test_an_error_of_the_store_fails_the_whole_group_and_the_world_is_as_before(store: Store) -> None:
    calls = {"n": 0}

    class FailingSecondInsert:
        def __init__(self, backend: Any) -> None:
            self._backend = backend

        def __getattr__(self, name: str) -> Any:
            return getattr(self._backend, name)

        def insert(self, *args: Any) -> None:
            calls["n"] += 1
            if calls["n"] == 2:
                raise self._backend.errors[0]("disk I/O error")
            self._backend.insert(*args)

    ledger = store.open(clock=Clock(), wrap=FailingSecondInsert)
    ledger.append(
        [issued(CODE_A, max_devices=1, at=at(0)), registered("a", at=at(0)), registered("b", at=at(0))]
    )
    with pytest.raises(Exception, match="disk I/O error"):
        ledger.append_many([[entered("a", CODE_A)], [entered("b", CODE_A)]])
    assert len(ledger.events()) == 3
    # The world was put back too: b, not a, gets the seat now.
    [[taken]] = ledger.append_many([[entered("b", CODE_A)]])  # type: ignore[misc]
    assert (taken.seq, taken.result) == (4, "activated")
    check_seats_and_replay(ledger)


# --- the law, over random groups -----------------------------------------------------

CODES = [f"GROUP-COMMI-TTEST-{n:05d}" for n in range(3)]
DEVICES = [f"dev-{n}" for n in range(4)]
KEYS = [None, None, None, "k1", "k2"]
TIMES = [None, None, None, None, at(0), at(400), "2025-13-01T00:00:00Z"]


def _event(kind: str, device: str, code: str, key: str | None, when: str | None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": kind}
    if kind == "CodeIssued":
        event.update(code=code, kind="commercial", term_days=30, max_devices=1 + CODES.index(code) % 2)
    elif kind == "CodeBlocked":
        event.update(code=code)
    elif kind == "DeviceRegistered":
        event.update(device=device, app_version="21.3")
    elif kind == "CodeEntered":
        event.update(device=device, code=code)
    elif kind == "Malformed":
        event.update(type="CodeIssued", code=code, kind="commercial", term_days=0, max_devices=1)
    else:
        event.update(device=device)
    if key is not None:
        event["id"] = key
    if when is not None:
        event["at"] = when
    return event


EVENTS = st.builds(
    _event,
    st.sampled_from(
        ["CodeIssued", "CodeIssued", "DeviceRegistered", "DeviceRegistered", "CodeEntered", "CodeEntered"]
        + ["TryAgainClicked", "ActivateNowClicked", "LicenseRemoved", "CodeBlocked", "Malformed"]
    ),
    st.sampled_from(DEVICES),
    st.sampled_from(CODES),
    st.sampled_from(KEYS),
    st.sampled_from(TIMES),
)
GROUPS = st.lists(st.lists(st.lists(EVENTS, max_size=4), min_size=1, max_size=6), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(GROUPS)
def test_a_group_answers_and_stores_what_appending_its_batches_in_turn_does(
    groups: list[list[list[dict[str, Any]]]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        one_by_one = Ledger.open(Path(folder) / "one.db", clock=Clock(), synchronous="NORMAL")
        grouped = Ledger.open(Path(folder) / "group.db", clock=Clock(), synchronous="NORMAL")
        with one_by_one, grouped:
            for group in groups:
                assert as_data(grouped.append_many(group)) == answers_of(one_by_one, group)
            assert stored_log(grouped) == stored_log(one_by_one)
            stored = [(r.seq, r.result, r.reason) for r in grouped.events()]
            assert [(seq, result, reason) for seq, result, reason, _ in replayed_results(grouped)] == stored

"""The forensic reads on every backend: each answers as a reference SQLite file does.

``status_after`` stores a device's packed status only where it changed, and
no time: the forensic queries join ``events`` for times and take the last
stored status where a row stores none. A backend that got either wrong would
answer ``diff``, ``first``, ``devices`` or ``what_if`` differently from the
status calls they are built on, or from another backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from license_ledger.errors import NeedsMigration, UnknownDevice
from license_ledger.ledger import Ledger
from stores import STORES, Store, at, registered, when
from test_store_contract import STORY, append_story

DEVICES = ["d1", "d2", "d3"]
MOMENTS = [
    when(0, hours=1),
    when(1, hours=1),
    when(2, hours=1),
    when(31, hours=1),
    when(40, hours=1),
    when(50),
]


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made = STORES[request.param](tmp_path)
    yield made
    made.close_all()


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "reference.db") as ledger:
        ledger.append(STORY)
        yield ledger


def test_diff_is_the_status_at_both_moments(store: Store, reference: Ledger) -> None:
    ledger = store.open()
    append_story(ledger)
    for device in DEVICES:
        for start, end in zip(MOMENTS, MOMENTS[1:], strict=False):
            found = ledger.diff(device, start, end)
            assert found.before == ledger.status(device, start)
            assert found.after == ledger.status(device, end)
            assert found == reference.diff(device, start, end)


def test_first_is_the_first_trace_entry_in_that_state(store: Store, reference: Ledger) -> None:
    ledger = store.open()
    append_story(ledger)
    for device in DEVICES:
        trace = ledger.trace(device)
        for state in ("active", "expired", "blocked", "unlicensed"):
            found = ledger.first(device, state=state)
            assert found.seq == next((entry.seq for entry in trace if entry.state == state), None)
            assert found == reference.first(device, state=state)
        for result in ("activated", "rejected", "renewed"):
            assert ledger.first(device, result=result) == reference.first(device, result=result)


def test_devices_are_each_devices_status_state(store: Store, reference: Ledger) -> None:
    ledger = store.open()
    append_story(ledger)
    for moment in MOMENTS:
        expected = []
        for device in DEVICES:
            try:
                expected.append((device, ledger.status(device, moment).state))
            except UnknownDevice:
                continue
        found = ledger.devices(as_of=moment)
        assert [(row.device, row.state) for row in found] == expected
        assert found == reference.devices(as_of=moment)
        assert ledger.devices(as_of=moment, after="d1", limit=1) == reference.devices(
            as_of=moment, after="d1", limit=1
        )


def test_what_if_answers_as_the_reference(store: Store, reference: Ledger) -> None:
    ledger = store.open()
    append_story(ledger)
    as_of = when(50)
    assert ledger.what_if(as_of=as_of).first_divergence is None
    for seq in (9, 12, 19):
        found = ledger.what_if(drop=[seq], as_of=as_of)
        assert found == reference.what_if(drop=[seq], as_of=as_of)
    assert ledger.what_if(drop=[12], as_of=as_of).devices  # no backup for d1: its status differs


def test_trace_keeps_the_evidence_append_answered(store: Store) -> None:
    ledger = store.open()
    appended = append_story(ledger)
    by_seq = {entry.seq: entry.evidence for device in DEVICES for entry in ledger.trace(device)}
    assert any(by_seq.values())
    for answer in appended:
        if answer.seq in by_seq:
            assert by_seq[answer.seq] == answer.evidence
    assert [row.evidence for row in ledger.events()] == [
        None if not answer.evidence else str(list(answer.evidence)).replace(" ", "") for answer in appended
    ]


def test_results_derived_without_evidence_are_renewed_by_rebuild(store: Store) -> None:
    ledger = store.open()
    appended = append_story(ledger)
    raw = store.raw()
    raw.execute("DROP VIEW event_list")  # it names the column
    raw.execute("ALTER TABLE event_results DROP COLUMN evidence")
    older = store.open()
    assert older.backend.projection_outdated
    with pytest.raises(NeedsMigration, match="rebuild"):
        older.append([registered("d9", at=at(50))])
    assert older.rebuild() == len(STORY)
    assert not older.backend.projection_outdated
    assert [row.evidence for row in older.events()] == [row.evidence for row in ledger.events()]
    assert older.verify().ok
    assert any(a.evidence for a in appended)

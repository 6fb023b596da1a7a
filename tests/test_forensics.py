"""Forensics through the embedded API: diff, first, devices, what-if; their laws over random logs.

The laws: ``diff`` agrees with two ``status`` calls; ``first`` agrees with
scanning ``status`` as of each event's time; ``what_if`` with no change
reports nothing; ``what_if`` dropping one event answers what appending the
log without it into a fresh store answers (or refuses as that append does).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from license_ledger import InputRefused, Ledger, UnknownDevice
from license_ledger.cli.demo import run
from license_ledger.engine.events import Event
from license_ledger.engine.forensics.diff import flatten
from license_ledger.engine.moments import parse_moment
from test_properties import SETTINGS, History, histories

FEW = settings(SETTINGS, max_examples=25)


@contextmanager
def stored(events: list[Event]) -> Iterator[Ledger]:
    with (
        tempfile.TemporaryDirectory() as folder,
        Ledger.open(Path(folder) / "f.db", snapshot_every=7) as ledger,
    ):
        if events:
            ledger.append(events)
        yield ledger


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    with Ledger.open(path) as ledger:
        run(ledger)
    with Ledger.open(path, read_only=True) as ledger:
        yield ledger


# --- the demo's questions ---------------------------------------------------------------


def test_why_did_the_tablet_fail_to_renew(demo: Ledger) -> None:
    found = demo.diff("kids-tablet", "2025-05-01T00:00:00Z", "2025-06-02T12:00:00Z")
    assert found.before is not None and found.after is not None
    assert (found.before.state, found.after.state) == ("active", "expired")
    by_field = {change.field: change for change in found.changes}
    assert by_field["state"].seq == 29 and by_field["backup.state"].after == "activation_failed"
    assert [(e.seq, e.result, e.reason, e.evidence) for e in found.events] == [
        (29, "renewal_failed", "device_limit_reached", (16, 20)),
        (30, "renewal_failed", "device_limit_reached", (16, 20)),
    ]


def test_since_when_is_the_reception_pc_blocked(demo: Ledger) -> None:
    found = demo.first("reception-pc", state="blocked")
    assert (found.seq, found.at) == (24, parse_moment("2025-03-12T00:00:00Z", field="at"))
    assert found.status is not None and found.status.actions == ["activate_now", "remove_license"]
    assert demo.first("reception-pc", state="blocked", after="2025-03-12T00:00:00Z").seq is None
    assert demo.first("kids-tablet", action="try_again").seq == 29
    assert demo.first("kids-tablet", backup_state="activation_failed", after="2025-06-02T01:00:00Z").seq == 30
    assert demo.first("kids-tablet", result="renewed").seq == 32
    assert demo.first("kids-tablet", state="blocked").seq is None
    with pytest.raises(UnknownDevice):
        demo.first("nobody", state="active")
    with pytest.raises(InputRefused, match="one of unlicensed, active, expired, blocked"):
        demo.first("kids-tablet", state="asleep")


def test_what_if_the_studio_had_not_taken_the_last_seat(demo: Ledger) -> None:
    report = demo.what_if(drop=[16], as_of="2025-06-03T00:00:00Z")
    assert report.first_divergence == 29
    assert [(e.seq, e.now if isinstance(e.now, str) else e.now.result) for e in report.changed_events] == [
        (16, "dropped"),
        (29, "renewed"),
        (30, "ignored"),
        (31, "ignored"),
        (32, "ignored"),
    ]
    assert [d.device for d in report.devices] == ["kids-tablet"]


def test_devices_as_of_a_moment_by_state_and_page(demo: Ledger) -> None:
    assert [(d.device, d.state) for d in demo.devices("expired", "2025-06-02T12:00:00Z")] == [
        ("kids-tablet", "expired")
    ]
    everyone = demo.devices(as_of="2026-01-12T12:00:00Z")
    assert [d.device for d in everyone] == sorted(d.device for d in everyone) and len(everyone) == 6
    page = demo.devices(as_of="2026-01-12T12:00:00Z", after="kids-tablet", limit=2)
    assert [d.device for d in page] == ["office-desktop", "reception-pc"]
    assert demo.devices(as_of="2025-01-01T00:00:00Z") == []


def test_what_if_inserts_events_and_refuses_an_invalid_change_naming_the_seq(demo: Ledger) -> None:
    # The studio PC's license removed before the tablet's expiry: the tablet renews at once.
    report = demo.what_if(insert={28: [{"type": "LicenseRemoved", "device": "studio-pc"}]})
    assert [(e.after, e.type, e.now.result) for e in report.inserted] == [(28, "LicenseRemoved", "removed")]
    assert report.first_divergence == 29
    with pytest.raises(InputRefused) as refused:
        demo.what_if(drop=[7])  # the home laptop never registered
    assert str(refused.value) == (
        "seq 13, CodeEntered, `$.device`: expected a registered device, found 'home-laptop', never registered"
    )
    with pytest.raises(InputRefused, match=r"^inserted after seq 10, line 2, DeviceRegistered, `\$.device`"):
        demo.what_if(
            insert={
                10: [
                    {"type": "DeviceRegistered", "device": "new-box", "app_version": "1"},
                    {"type": "DeviceRegistered", "device": "home-laptop", "app_version": "1"},
                ]
            }
        )
    with pytest.raises(InputRefused, match=r"^seq 9, DeviceRegistered"):
        demo.what_if(insert={3: [{"type": "DeviceRegistered", "device": "kids-tablet", "app_version": "1"}]})
    with pytest.raises(InputRefused, match="a stored seq, from 1 to 38"):
        demo.what_if(drop=[39])


def test_diff_refuses_moments_in_the_wrong_order(demo: Ledger) -> None:
    with pytest.raises(InputRefused, match="a `to` at or after `from`"):
        demo.diff("kids-tablet", "2025-06-01T00:00:00Z", "2025-05-01T00:00:00Z")
    with pytest.raises(UnknownDevice):
        demo.diff("kids-tablet", "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z")


# --- laws ----------------------------------------------------------------------------------


def _moments(history: History) -> list[object]:
    times = sorted({event.at for event in history.events if event.at is not None})
    return [*times, *(at + timedelta(hours=1) for at in times)]


@FEW
@given(histories(max_steps=30), st.data())
def test_diff_agrees_with_two_status_calls(history: History, data: st.DataObject) -> None:
    if not history.events:
        return
    moments = sorted(_moments(history))  # type: ignore[type-var]
    start = data.draw(st.sampled_from(moments))
    end = data.draw(st.sampled_from([m for m in moments if m >= start]))  # type: ignore[operator]
    with stored(history.events) as ledger:
        for device in sorted(history.world.devices):
            try:
                after = ledger.status(device, end)  # type: ignore[arg-type]
            except UnknownDevice:
                continue
            try:
                before = ledger.status(device, start)  # type: ignore[arg-type]
            except UnknownDevice:
                before = None
            found = ledger.diff(device, start, end)  # type: ignore[arg-type]
            assert (found.before, found.after) == (before, after)
            old, new = flatten(before), flatten(after)
            assert {c.field: (c.before, c.after) for c in found.changes} == {
                name: (old[name], new[name]) for name in old if old[name] != new[name]
            }
            assert [e.seq for e in found.events] == [
                e.seq
                for e in ledger.trace(device)
                if start < e.at <= end  # type: ignore[operator]
            ]


@FEW
@given(histories(max_steps=30), st.sampled_from(["unlicensed", "active", "expired", "blocked"]))
def test_first_agrees_with_scanning_status_after_each_event(history: History, state: str) -> None:
    with stored(history.events) as ledger:
        for device in sorted(history.world.devices):
            trace = ledger.trace(device)
            expected = next((e.seq for e in trace if e.state == state), None)
            assert ledger.first(device, state=state).seq == expected
            failed = next((e.seq for e in trace if e.result == "renewal_failed"), None)
            assert ledger.first(device, result="renewal_failed").seq == failed


@FEW
@given(histories(max_steps=30))
def test_devices_as_of_agrees_with_status(history: History) -> None:
    with stored(history.events) as ledger:
        for at in _moments(history)[:6]:
            expected = []
            for device in sorted(history.world.devices):
                with contextlib.suppress(UnknownDevice):
                    expected.append((device, ledger.status(device, at).state))  # type: ignore[arg-type]
            assert [(d.device, d.state) for d in ledger.devices(as_of=at)] == expected  # type: ignore[arg-type]


@FEW
@given(histories(max_steps=30))
def test_what_if_with_no_change_reports_nothing(history: History) -> None:
    with stored(history.events) as ledger:
        report = ledger.what_if()
        assert (report.first_divergence, report.changed_events, report.devices) == (None, [], [])
        if history.events:
            # Inserting nothing after the last event replays the tail and finds nothing either.
            report = ledger.what_if(insert={len(history.events): []})
            assert (report.first_divergence, report.changed_events, report.devices) == (None, [], [])


@FEW
@given(histories(max_steps=30), st.data())
def test_what_if_drop_equals_appending_the_log_without_it(history: History, data: st.DataObject) -> None:
    if not history.events:
        return
    seq = data.draw(st.integers(1, len(history.events)))
    kept = history.events[: seq - 1] + history.events[seq:]
    last = max(event.at for event in history.events if event.at is not None)
    with stored(history.events) as ledger:
        try:
            report = ledger.what_if(drop=[seq], as_of=last)
        except InputRefused:
            report = None
        with tempfile.TemporaryDirectory() as folder, Ledger.open(Path(folder) / "w.db") as fresh:
            try:
                appended = fresh.append(kept) if kept else []
            except InputRefused:
                assert report is None, "what-if accepted a change that an append refuses"
                return
            assert report is not None, "what-if refused a change that an append accepts"
            was = {a.seq: (a.result, a.reason) for a in ledger.events()}
            changed = {e.seq: e for e in report.changed_events}
            assert changed.pop(seq).now == "dropped"
            for position, a in enumerate(appended, start=1):
                original = position if position < seq else position + 1
                now = (a.result, a.reason)
                if original in changed:
                    view = changed[original].now
                    assert not isinstance(view, str) and (view.result, view.reason) == now
                else:
                    assert was[original] == now
            differing = {d.device: d.now for d in report.devices}
            for device in sorted(history.world.devices):
                try:
                    now_status = fresh.status(device, last)
                except UnknownDevice:
                    now_status = None
                try:
                    was_status = ledger.status(device, last)
                except UnknownDevice:
                    was_status = None
                assert differing.get(device, was_status) == now_status, device

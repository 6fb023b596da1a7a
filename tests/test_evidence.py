"""Evidence: every decision names, by seq, the earlier events it rested on.

One scenario per evidence rule (docs/rules.md, "Evidence"), then the laws
over random histories: every evidence seq is earlier than its event, of the
type the rule says, ascending and unique; and a store keeps, verifies and
rebuilds the same evidence as replay derives.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings

from license_ledger import Ledger, NeedsMigration
from license_ledger.engine.events import Event
from license_ledger.engine.views import Outcome
from scenario import Scenario
from test_properties import SETTINGS, History, histories

LICENSE = "EVIDE-NCETE-STCOD-00001"
BACKUP = "EVIDE-NCETE-STCOD-00002"
OTHER = "EVIDE-NCETE-STCOD-00003"
SUBSCRIPTION = "EVIDE-NCETE-STCOD-00004"


def test_device_limit_reached_names_the_events_that_gave_each_holder_its_seat() -> None:
    s = Scenario()
    s.issue(LICENSE, max_devices=2)
    for device in ("a", "b", "c"):
        s.register(device)
    s.enter("a", LICENSE)
    a_seat = s.seq
    s.later(days=1)
    s.enter("b", LICENSE)
    b_seat = s.seq
    assert s.enter("c", LICENSE).reason == "device_limit_reached"
    assert s.evidence[s.seq] == (a_seat, b_seat)


def test_a_seat_given_by_a_renewal_is_named_by_the_renewal() -> None:
    s = Scenario()
    s.issue(LICENSE, term_days=30)
    s.issue(BACKUP, max_devices=1)
    s.register("a")
    s.register("b")
    s.enter("a", LICENSE)
    s.enter("a", BACKUP)
    s.until_expiry("a")
    assert s.expire("a").result == "renewed"
    renewal = s.seq
    assert s.enter("b", BACKUP).reason == "device_limit_reached"
    assert s.evidence[s.seq] == (renewal,)


def test_code_blocked_names_the_code_blocked_event() -> None:
    s = Scenario()
    s.issue(LICENSE)
    s.register("a")
    s.block(LICENSE, "refunded")
    blocked = s.seq
    assert s.enter("a", LICENSE).reason == "code_blocked"
    assert s.evidence[s.seq] == (blocked,)


def test_blocking_names_what_gave_each_blocked_device_its_license() -> None:
    s = Scenario()
    s.issue(LICENSE, max_devices=3)
    s.register("a")
    s.register("b")
    s.enter("a", LICENSE)
    a_seat = s.seq
    s.enter("b", LICENSE)
    b_seat = s.seq
    assert s.block(LICENSE).result == "blocked"
    assert s.evidence[s.seq] == (a_seat, b_seat)


def test_code_expired_names_the_codes_first_activation() -> None:
    s = Scenario()
    s.issue(LICENSE, term_days=10, max_devices=2)
    s.register("a")
    s.register("b")
    s.enter("a", LICENSE)
    first = s.seq
    s.later(days=11)
    assert s.enter("b", LICENSE).reason == "code_expired"
    assert s.evidence[s.seq] == (first,)


def test_does_not_extend_names_both_first_activations() -> None:
    s = Scenario()
    s.issue(LICENSE, term_days=365)
    s.issue(OTHER, term_days=30, max_devices=2)
    s.register("a")
    s.register("b")
    s.enter("b", OTHER)
    other_first = s.seq
    s.enter("a", LICENSE)
    license_first = s.seq
    assert s.enter("a", OTHER).reason == "does_not_extend"
    assert s.evidence[s.seq] == (other_first, license_first)


def test_incompatible_version_names_the_event_that_set_the_version() -> None:
    s = Scenario()
    s.issue(LICENSE, compatible_versions=">=23")
    s.register("a", "21.3")
    registered = s.seq
    assert s.enter("a", LICENSE).reason == "incompatible_version"
    assert s.evidence[s.seq] == (registered,)
    s.update_app("a", "22.0")
    updated = s.seq
    assert s.enter("a", LICENSE).reason == "incompatible_version"
    assert s.evidence[s.seq] == (updated,)


def test_console_unreachable_names_the_last_connection_change() -> None:
    s = Scenario()
    s.issue(LICENSE, requires_console=True)
    s.register("a")
    s.connect("a", False)
    s.connect("a", True)
    s.connect("a", False)
    last = s.seq
    assert s.enter("a", LICENSE).reason == "console_unreachable"
    assert s.evidence[s.seq] == (last,)


def test_renewed_and_renewal_failed_name_the_event_that_added_the_backup() -> None:
    s = Scenario()
    s.issue(LICENSE, term_days=30)
    s.issue(BACKUP, compatible_versions=">=23")
    s.register("a", "22.0")
    registered = s.seq
    s.enter("a", LICENSE)
    s.enter("a", BACKUP)
    added = s.seq
    s.until_expiry("a")
    assert s.expire("a") == Outcome(
        "renewal_failed", "incompatible_version", {"app_version": "22.0", "compatible_versions": ">=23"}
    )
    # The backup, and what the failed check rested on.
    assert s.evidence[s.seq] == (registered, added)
    s.update_app("a", "23.1")
    assert s.try_again("a").result == "renewed"
    assert s.evidence[s.seq] == (added,)


def test_already_active_and_backup_already_added_name_the_event_that_made_it_so() -> None:
    s = Scenario()
    s.issue(LICENSE)
    s.issue(BACKUP)
    s.issue(OTHER)
    s.register("a")
    s.enter("a", LICENSE)
    activated = s.seq
    assert s.enter("a", LICENSE).reason == "already_active"
    assert s.evidence[s.seq] == (activated,)
    s.enter("a", BACKUP)
    added = s.seq
    assert s.enter("a", OTHER).reason == "backup_already_added"
    assert s.evidence[s.seq] == (added,)


def test_a_subscription_in_use_names_its_activation_and_a_plain_expiry_nothing() -> None:
    s = Scenario()
    s.issue(LICENSE, term_days=30)
    s.issue(SUBSCRIPTION, kind="subscription")
    s.issue(OTHER)
    s.register("a")
    s.register("b")
    s.enter("a", LICENSE)
    activated = s.seq
    s.enter("b", SUBSCRIPTION)
    subscribed = s.seq
    assert s.enter("b", OTHER).reason == "subscription_in_use"
    assert s.evidence[s.seq] == (subscribed,)
    s.until_expiry("a")
    assert s.expire("a").result == "expired"
    # Kept lean on replay's hottest path: the activation is the trace's entry before.
    assert s.evidence[s.seq] == ()
    assert activated < s.seq


def test_unknown_code_and_recorded_have_no_evidence() -> None:
    s = Scenario()
    s.issue(LICENSE)
    assert s.evidence[s.seq] == ()
    s.register("a")
    assert s.evidence[s.seq] == ()
    assert s.enter("a", "NEVER-ISSUE-DCODE-00000").reason == "unknown_code"
    assert s.evidence[s.seq] == ()
    assert s.enter("a", LICENSE).result == "activated"
    assert s.evidence[s.seq] == ()


# --- laws -------------------------------------------------------------------------------

_ACTIVATING = {"CodeEntered", "LicenseExpired", "LicenseRemoved", "TryAgainClicked", "ActivateNowClicked"}
#: What kind of event each reason's evidence names.
_BY_REASON = {
    "device_limit_reached": _ACTIVATING,
    "code_blocked": {"CodeBlocked"},
    "code_expired": _ACTIVATING,
    "does_not_extend": _ACTIVATING,
    "incompatible_version": {"DeviceRegistered", "AppUpdated"},
    "console_unreachable": {"ConsoleConnectionChanged"},
    "already_active": _ACTIVATING,
    "backup_already_added": {"CodeEntered"},
    "subscription_in_use": _ACTIVATING,
}
#: ... and each result's, beside its reason's.
_BY_RESULT = {
    "renewed": {"CodeEntered"},
    "renewal_failed": {"CodeEntered"},
    "blocked": _ACTIVATING,
}


def _allowed(outcome: Outcome) -> set[str]:
    return _BY_RESULT.get(outcome.result, set()) | _BY_REASON.get(outcome.reason or "", set())


@SETTINGS
@given(histories())
def test_every_evidence_seq_is_earlier_and_of_the_right_type(history: History) -> None:
    events: list[Event] = history.events
    for seq, outcome in enumerate(history.outcomes, start=1):
        evidence = outcome.evidence
        assert list(evidence) == sorted(set(evidence)), (seq, outcome)
        for cited in evidence:
            assert 1 <= cited < seq, (seq, outcome)
            assert type(events[cited - 1]).__name__ in _allowed(outcome), (seq, outcome, cited)
        if outcome.reason == "device_limit_reached":
            assert outcome.detail is not None
            # The seat holders' activations (and a renewal's own backup, on the device itself).
            own = getattr(events[seq - 1], "device", None)
            held = {getattr(events[cited - 1], "device", None) for cited in evidence} - {own}
            assert held == set(outcome.detail["held_by"]), (seq, outcome)
        if outcome.result in {"renewed", "renewal_failed"}:
            assert evidence, (seq, outcome)
        if outcome.reason in _BY_REASON:
            assert evidence, (seq, outcome)


@settings(SETTINGS, max_examples=20)
@given(histories(max_steps=30))
def test_a_store_keeps_verifies_and_rebuilds_the_evidence_replay_derives(history: History) -> None:
    with tempfile.TemporaryDirectory() as folder, Ledger.open(Path(folder) / "e.db") as ledger:
        appended = ledger.append(history.events) if history.events else []
        assert [a.evidence for a in appended] == [o.evidence for o in history.outcomes]
        ledger.rebuild()
        assert ledger.verify().ok
        stored = [row[4] for row in ledger.backend.results()]
        assert stored == [
            None if not o.evidence else f"[{','.join(map(str, o.evidence))}]" for o in history.outcomes
        ]


def test_a_file_derived_before_evidence_gets_it_from_rebuild(tmp_path: Path) -> None:
    path = tmp_path / "older.db"
    s = Scenario()
    s.issue(LICENSE)
    s.register("a")
    s.enter("a", LICENSE)
    s.enter("a", LICENSE)
    with Ledger.open(path) as ledger:
        ledger.append(s.log)
    # The derived tables as this version's predecessor wrote them: results without evidence.
    conn = sqlite3.connect(path)
    conn.execute("DROP VIEW event_list")
    conn.execute("ALTER TABLE event_results DROP COLUMN evidence")
    conn.commit()
    conn.close()
    with pytest.raises(NeedsMigration, match="run `license-ledger rebuild"):
        Ledger.open(path, read_only=True)
    with Ledger.open(path, create=False) as ledger:
        with pytest.raises(NeedsMigration, match="rebuild"):
            ledger.append([{"type": "DeviceRegistered", "device": "b", "app_version": "1.0"}])
        assert ledger.rebuild() == 4
        assert ledger.verify().ok
    with Ledger.open(path, read_only=True) as ledger:
        assert [entry.evidence for entry in ledger.trace("a")] == [(), (), (3,)]

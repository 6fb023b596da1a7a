"""The storage contract: what every backend behind a Ledger must guarantee.

Runs against real stores: one SQLite file, and one fresh PostgreSQL schema,
per test. A backend joins by adding a factory to ``stores.STORES``;
``TestSQLiteFile`` holds what only a file can get wrong, and
``test_postgres.py`` what only a database server can.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from license_ledger.engine import snapshot as snapshots
from license_ledger.engine.moments import parse_moment
from license_ledger.engine.views import Appended, BackupView, DeviceStatus, LicenseView, TraceEntry
from license_ledger.errors import InputRefused, NewerSchema, NotALedger, UnknownDevice
from license_ledger.ledger import Ledger
from license_ledger.store import audit
from license_ledger.store.audit import VerifyReport
from stores import (
    CODE_A,
    CODE_B,
    CODE_SEAT,
    CODE_TRIAL,
    STORES,
    Clock,
    Store,
    at,
    blocked,
    device_event,
    entered,
    issued,
    registered,
    replayed_results,
    updated,
    when,
)


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made = STORES[request.param](tmp_path)
    yield made
    made.close_all()


#: A log that reaches most results: shared activation dates, a contested last
#: seat, a failed renewal tried again, a block, a removal.
STORY: list[dict[str, Any]] = [
    issued(CODE_A, term_days=30, max_devices=2, at=at(0)),
    issued(CODE_B, term_days=365, max_devices=1, at=at(0)),
    issued(CODE_TRIAL, kind="trial", term_days=14, at=at(0)),
    registered("d1", at=at(0)),
    registered("d2", at=at(0)),
    registered("d3", at=at(0)),
    entered("d1", CODE_A, at=at(1)),
    entered("d2", CODE_A, at=at(1)),
    entered("d3", CODE_A, at=at(1)),
    entered("d1", "ABCDE-12345", at=at(2)),
    entered("d1", CODE_TRIAL, at=at(2)),
    entered("d1", CODE_B, at=at(2), id="d1-enters-b"),
    entered("d3", CODE_B, at=at(3)),
    device_event("TryAgainClicked", "d1", at=at(4)),
    device_event("LicenseExpired", "d1", at=at(31)),
    device_event("LicenseExpired", "d2", at=at(31)),
    device_event("LicenseRemoved", "d3", at=at(32)),
    device_event("TryAgainClicked", "d1", at=at(32)),
    blocked(CODE_B, reason="chargeback", at=at(40)),
    device_event("ActivateNowClicked", "d1", at=at(41)),
    device_event("LicenseRemoved", "d2", at=at(42)),
    device_event("LicenseRemoved", "d2", at=at(43)),
]

STORY_RESULTS: list[tuple[int, str, str | None]] = [
    (1, "recorded", None),
    (2, "recorded", None),
    (3, "recorded", None),
    (4, "recorded", None),
    (5, "recorded", None),
    (6, "recorded", None),
    (7, "activated", None),
    (8, "activated", None),
    (9, "rejected", "device_limit_reached"),
    (10, "rejected", "invalid_format"),
    (11, "rejected", "trial_not_allowed"),
    (12, "backup_added", None),
    (13, "activated", None),
    (14, "ignored", "action_not_available"),
    (15, "renewal_failed", "device_limit_reached"),
    (16, "expired", None),
    (17, "removed", None),
    (18, "renewed", None),
    (19, "blocked", None),
    (20, "ignored", "action_not_available"),
    (21, "removed", None),
    (22, "ignored", "no_license"),
]


def append_story(ledger: Ledger) -> list[Appended]:
    """The story in three batches (three transactions)."""
    return [a for part in (STORY[:6], STORY[6:13], STORY[13:]) for a in ledger.append(part)]


def seqs(ledger: Ledger) -> list[int]:
    return [row.seq for row in ledger.events()]


# --- opening -------------------------------------------------------------------


class TestOpening:
    def test_open_creates_the_store_and_its_schema(self, store: Store) -> None:
        assert not store.exists()
        ledger = store.open()
        assert store.exists()
        assert store.tables() == {
            "event_results",
            "events",
            "ledger_meta",
            "schema_version",
            "snapshots",
            "status_after",
        }
        assert ledger.verify() == VerifyReport(
            ok=True, events=0, head_seq=0, head_hash=None, unproven=audit.UNPROVEN
        )
        assert ledger.events() == []

    def test_reopening_keeps_the_data(self, store: Store) -> None:
        first = store.open()
        appended = append_story(first)
        head = first.verify().head_hash
        before = [first.status(d, as_of=when(50)) for d in ("d1", "d2", "d3")]
        first.close()

        again = store.open()
        assert seqs(again) == list(range(1, 23))
        assert [again.status(d, as_of=when(50)) for d in ("d1", "d2", "d3")] == before
        assert again.verify() == VerifyReport(
            ok=True, events=22, head_seq=22, head_hash=head, unproven=audit.UNPROVEN
        )
        [more] = again.append([updated("d2", "22.0", at=at(44))])
        assert (more.seq, more.result) == (23, "recorded")
        assert appended[-1].seq == 22

    def test_a_store_of_a_newer_schema_is_refused(self, store: Store) -> None:
        store.open().close()
        store.record_schema_version(3)
        with pytest.raises(NewerSchema) as refused:
            store.open()
        assert str(refused.value) == (
            f"{store.location}: store schema version 3, newer than this license-ledger "
            "understands (2); upgrade license-ledger"
        )


class TestSQLiteFile:
    """What only a file on disk can get wrong."""

    def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(self, tmp_path: Path) -> None:
        path = tmp_path / "notes.txt"
        path.write_bytes(b"this is a text file, not a database\n" * 200)
        with pytest.raises(NotALedger) as refused:
            Ledger.open(path)
        assert str(refused.value) == f"{path}: not a license-ledger file (file is not a database)"
        # Raised "from None": no chained sqlite3 traceback reaches the user.
        assert refused.value.__cause__ is None and refused.value.__suppress_context__
        assert path.read_bytes() == b"this is a text file, not a database\n" * 200
        assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]

    def test_an_sqlite_file_with_other_tables_is_refused_and_left_alone(self, tmp_path: Path) -> None:
        path = tmp_path / "other.db"
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("CREATE TABLE people (name TEXT)")
        conn.commit()
        conn.close()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()

        with pytest.raises(NotALedger) as refused:
            Ledger.open(path)
        assert str(refused.value) == (
            f"{path}: an SQLite database, but not a license-ledger file (found tables notes, people)"
        )
        # Not even switched to WAL: the journal mode is written into the file.
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        conn.close()

    def test_opening_without_create_does_not_create(self, tmp_path: Path) -> None:
        path = tmp_path / "missing.db"
        with pytest.raises(NotALedger) as refused:
            Ledger.open(path, create=False)
        assert str(refused.value) == f"{path}: no such file (nothing to open; `append` creates one)"
        assert not path.exists()

    def test_a_folder_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(NotALedger) as refused:
            Ledger.open(tmp_path)
        assert str(refused.value) == f"{tmp_path}: is a folder, not a license-ledger file"

    def test_the_file_is_in_wal_mode(self, tmp_path: Path) -> None:
        Ledger.open(tmp_path / "ledger.db").close()
        conn = sqlite3.connect(tmp_path / "ledger.db")
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        conn.close()


# --- appending -----------------------------------------------------------------


class TestAppending:
    def test_seqs_are_gapless_from_one(self, store: Store) -> None:
        ledger = store.open()
        first = ledger.append([registered("d1", at=at(0)), registered("d2", at=at(0))])
        second = ledger.append([updated("d1", "22.0", at=at(1))])
        third = ledger.append([updated("d2", "22.0", at=at(1)), updated("d2", "22.1", at=at(2))])
        assert [a.seq for a in first + second + third] == [1, 2, 3, 4, 5]
        assert seqs(ledger) == [1, 2, 3, 4, 5]
        assert [row.seq for row in ledger.events(after=2, limit=2)] == [3, 4]

    def test_append_answers_what_a_full_replay_derives(self, store: Store) -> None:
        ledger = store.open()
        appended = append_story(ledger)
        assert [(a.seq, a.result, a.reason) for a in appended] == STORY_RESULTS
        assert appended[8].detail == {"max_devices": 2, "held_by": ["d1", "d2"]}
        assert appended[14].detail == {"max_devices": 1, "held_by": ["d3"]}
        assert appended[18].detail == {"blocked_devices": ["d1"]}
        assert all(a.stored for a in appended)
        assert [(a.seq, a.result, a.reason, a.detail) for a in appended] == replayed_results(ledger)
        assert ledger.replay() == audit.ReplaySummary(
            events=22,
            as_of=None,
            devices=3,
            devices_by_state={"blocked": 1, "unlicensed": 2},
            results={
                "activated": 3,
                "backup_added": 1,
                "blocked": 1,
                "expired": 1,
                "ignored: action_not_available": 2,
                "ignored: no_license": 1,
                "recorded": 6,
                "rejected: device_limit_reached": 1,
                "rejected: invalid_format": 1,
                "rejected: trial_not_allowed": 1,
                "removed": 2,
                "renewal_failed: device_limit_reached": 1,
                "renewed": 1,
            },
        )
        assert ledger.verify().ok

    def test_appending_lines_answers_like_appending_dicts(self, store: Store) -> None:
        ledger = store.open()
        lines = [
            '{"type":"DeviceRegistered","device":"d1","app_version":"21.3","at":"2025-01-01T00:00:00Z"}',
            "",
            '{"type":"AppUpdated","device":"d1","app_version":"22.0","at":"2025-01-02T00:00:00Z"}',
        ]
        assert [(a.seq, a.type, a.result) for a in ledger.append_lines(lines)] == [
            (1, "DeviceRegistered", "recorded"),
            (2, "AppUpdated", "recorded"),
        ]
        with pytest.raises(InputRefused) as refused:
            ledger.append_lines(['{"type":"AppUpdated","device":"d1","app_version":"23"}', "{"])
        assert refused.value.line == 2
        assert seqs(ledger) == [1, 2]


class TestAllOrNothing:
    def base(self, ledger: Ledger) -> None:
        ledger.append(
            [
                issued(CODE_SEAT, max_devices=1, at=at(0)),
                registered("d1", at=at(0)),
                registered("d2", at=at(0)),
            ]
        )

    def test_a_refused_event_in_the_middle_stores_nothing(self, store: Store) -> None:
        ledger = store.open()
        self.base(ledger)
        before_export = list(ledger.export())
        before = ledger.status("d1", as_of=when(5))

        batch = [
            entered("d1", CODE_SEAT, at=at(1)),  # would take the seat
            updated("d9", "22.0", at=at(1)),  # never registered: refused
            entered("d2", CODE_SEAT, at=at(1)),
        ]
        with pytest.raises(InputRefused) as refused:
            ledger.append(batch)
        assert str(refused.value) == (
            "line 2, AppUpdated, `$.device`: expected a registered device, found 'd9', never registered"
        )
        assert (refused.value.line, refused.value.field) == (2, "$.device")
        assert list(ledger.export()) == before_export
        assert ledger.status("d1", as_of=when(5)) == before
        assert ledger.verify().ok

        # The in-memory world was rolled back: the seat is still free, for
        # this ledger and for a fresh one.
        [taken] = ledger.append([entered("d1", CODE_SEAT, at=at(1))])
        assert (taken.seq, taken.result, taken.reason) == (4, "activated", None)
        [lost] = store.open().append([entered("d2", CODE_SEAT, at=at(1))])
        assert (lost.seq, lost.result, lost.reason) == (5, "rejected", "device_limit_reached")
        assert replayed_results(ledger)[3:] == [
            (4, "activated", None, None),
            (5, "rejected", "device_limit_reached", {"max_devices": 1, "held_by": ["d1"]}),
        ]

    def test_a_schema_refusal_names_line_and_field(self, store: Store) -> None:
        ledger = store.open()
        self.base(ledger)
        with pytest.raises(InputRefused) as refused:
            ledger.append(
                [
                    updated("d1", "22.0", at=at(1)),
                    issued(CODE_B, term_days=0, at=at(1)),
                ]
            )
        assert str(refused.value) == "line 2, CodeIssued, `$.term_days`: expected int >= 1, found 0"
        with pytest.raises(InputRefused) as refused:
            ledger.append([updated("d1", "22.0", at=at(1)), {"type": "DeviceRegistered", "device": "d5"}])
        assert str(refused.value) == (
            "line 2, DeviceRegistered, `$.app_version`: expected the required field `app_version`, found nothing"
        )
        assert seqs(ledger) == [1, 2, 3]

    def test_a_refused_event_after_a_block_rolls_the_block_back(self, store: Store) -> None:
        ledger = store.open()
        self.base(ledger)
        ledger.append([entered("d1", CODE_SEAT, at=at(1))])
        with pytest.raises(InputRefused):
            ledger.append([blocked(CODE_SEAT, at=at(2)), registered("d1", at=at(2))])
        assert ledger.status("d1", as_of=when(3)).state == "active"
        assert ledger.trace("d1")[-1].type == "CodeEntered"
        [block] = ledger.append([blocked(CODE_SEAT, at=at(2))])
        assert (block.seq, block.result, block.detail) == (5, "blocked", {"blocked_devices": ["d1"]})
        assert ledger.verify().ok


class TestTime:
    def test_the_store_fills_in_at_never_earlier_than_the_last(self, store: Store) -> None:
        clock = Clock("2025-06-01T00:00:00Z")
        ledger = store.open(clock=clock)
        [first] = ledger.append([registered("d1")])
        assert first.at == parse_moment("2025-06-01T00:00:00Z", field="at")

        clock.set("2025-05-01T00:00:00Z")  # the clock jumps back a month
        [second] = ledger.append([updated("d1", "22.0")])
        assert second.at == parse_moment("2025-06-01T00:00:00Z", field="at")

        clock.set("2025-07-01T00:00:00Z")
        third = ledger.append([updated("d1", "22.1", at="2025-08-01T00:00:00Z"), updated("d1", "22.2")])
        assert [a.at for a in third] == [parse_moment("2025-08-01T00:00:00Z", field="at")] * 2

        rows = ledger.events()
        assert [row.at for row in rows] == [
            "2025-06-01T00:00:00.000000Z",
            "2025-06-01T00:00:00.000000Z",
            "2025-08-01T00:00:00.000000Z",
            "2025-08-01T00:00:00.000000Z",
        ]
        assert '"at":"2025-06-01T00:00:00Z"' in rows[1].payload
        assert ledger.verify().ok

    def test_a_fresh_ledger_on_the_store_knows_the_last_time(self, store: Store) -> None:
        store.open().append([registered("d1", at="2025-09-01T00:00:00Z")])
        [late] = store.open(clock=Clock("2025-01-01T00:00:00Z")).append([updated("d1", "22.0")])
        assert late.at == parse_moment("2025-09-01T00:00:00Z", field="at")

    def test_a_given_at_earlier_than_the_last_is_refused(self, store: Store) -> None:
        ledger = store.open()
        ledger.append([registered("d1", at=at(1))])
        with pytest.raises(InputRefused) as refused:
            ledger.append([updated("d1", "22.0", at=at(0))])
        assert str(refused.value) == (
            "line 1, AppUpdated, `$.at`: expected a time at or after 2025-01-02T00:00:00Z "
            "(the event before it), found 2025-01-01T00:00:00Z"
        )
        with pytest.raises(InputRefused) as refused:
            ledger.append([updated("d1", "22.0", at=at(3)), updated("d1", "22.1", at=at(2))])
        assert str(refused.value) == (
            "line 2, AppUpdated, `$.at`: expected a time at or after 2025-01-04T00:00:00Z "
            "(the event before it), found 2025-01-03T00:00:00Z"
        )
        assert seqs(ledger) == [1]
        [same] = ledger.append([updated("d1", "22.0", at=at(1))])  # the same moment is fine
        assert same.seq == 2


class TestIdempotency:
    def test_the_same_id_and_content_is_answered_not_stored(self, store: Store) -> None:
        clock = Clock("2025-01-05T00:00:00Z")
        ledger = store.open(clock=clock)
        ledger.append([issued(CODE_A, at=at(0)), registered("d1", at=at(0))])
        [first] = ledger.append([entered("d1", CODE_A, id="key-1")])
        assert (first.seq, first.result, first.stored) == (3, "activated", True)

        clock.set("2025-01-09T00:00:00Z")
        # Sent again (a retry), typed differently but the same code, with or
        # without the time the store gave it.
        again = ledger.append(
            [
                entered("d1", CODE_A.upper(), id="key-1"),
                entered("d1", CODE_A, id="key-1", at="2025-01-05T00:00:00Z"),
            ]
        )
        answer = Appended(3, "CodeEntered", when(4), "activated", None, None, stored=False)
        assert again == [answer, answer]
        [other] = store.open().append([entered("d1", CODE_A, id="key-1")])
        assert other == answer
        assert seqs(ledger) == [1, 2, 3]

    def test_the_same_id_with_other_content_is_refused(self, store: Store) -> None:
        ledger = store.open()
        ledger.append([registered("d1", at=at(0), id="reg-1"), updated("d1", "22.0", at=at(1), id="up-1")])
        with pytest.raises(InputRefused) as refused:
            ledger.append([updated("d1", "23.0", at=at(2)), updated("d1", "22.5", at=at(2), id="up-1")])
        assert str(refused.value) == (
            "line 2, AppUpdated, `$.id`: expected the same content as event 2, stored under this idempotency key, "
            "found different content"
        )
        with pytest.raises(InputRefused) as refused:
            ledger.append([updated("d1", "22.0", at=at(2), id="up-1")])  # another time
        assert refused.value.field == "$.id"
        assert seqs(ledger) == [1, 2]

    def test_duplicates_inside_one_batch(self, store: Store) -> None:
        ledger = store.open()
        ledger.append([registered("d1", at=at(0))])
        twice = ledger.append(
            [
                updated("d1", "22.0", at=at(1), id="k"),
                updated("d1", "22.1", at=at(1)),
                updated("d1", "22.0", at=at(1), id="k"),
            ]
        )
        assert [(a.seq, a.stored) for a in twice] == [(2, True), (3, True), (2, False)]
        assert seqs(ledger) == [1, 2, 3]
        with pytest.raises(InputRefused) as refused:
            ledger.append([updated("d1", "23.0", at=at(2), id="j"), updated("d1", "23.1", at=at(2), id="j")])
        assert str(refused.value) == (
            "line 2, AppUpdated, `$.id`: expected the same content as event 4, stored under this idempotency key, "
            "found different content"
        )
        assert seqs(ledger) == [1, 2, 3]
        assert ledger.verify().ok

    def test_keys_are_scoped_per_device_so_devices_neither_meet_nor_learn(self, store: Store) -> None:
        ledger = store.open()
        ledger.append([registered("d1", at=at(0)), registered("d2", at=at(0))])
        [mine] = ledger.append([device_event("TryAgainClicked", "d1", at=at(1), id="retry-1")])
        # Another device's event under the same key is its own: stored, nothing said of d1's.
        [theirs] = ledger.append([device_event("LicenseRemoved", "d2", at=at(1), id="retry-1")])
        assert (mine.seq, theirs.seq, theirs.stored) == (3, 4, True)
        # Within one device the key still names one event.
        [again] = ledger.append([device_event("TryAgainClicked", "d1", at=at(1), id="retry-1")])
        assert (again.seq, again.stored) == (3, False)
        # The vendor's events share one scope.
        ledger.append([issued(CODE_A, at=at(2), id="retry-1")])
        with pytest.raises(InputRefused) as refused:
            ledger.append([issued(CODE_B, at=at(2), id="retry-1")])
        assert refused.value.field == "$.id"
        assert seqs(ledger) == [1, 2, 3, 4, 5]


# --- reading -------------------------------------------------------------------


class TestReading:
    def test_status_as_of_past_times(self, store: Store) -> None:
        ledger = store.open()
        append_story(ledger)
        code_a = LicenseView(
            code="*****-*****-*****-1A2B3",
            kind="commercial",
            activated_at=when(1),
            expires_at=when(31),
            provisional=False,
        )
        backup_b = BackupView(code="*****-*****-*****-7C8D9", state="pending", added_at=when(2), failure=None)
        assert ledger.status("d1", as_of=when(0, hours=1)) == DeviceStatus(
            "d1", when(0, hours=1), "unlicensed", None, None, []
        )
        assert ledger.status("d1", as_of=when(2, hours=1)) == DeviceStatus(
            "d1", when(2, hours=1), "active", code_a, backup_b, ["remove_license"]
        )
        assert ledger.status("d1", as_of=when(31, hours=1)) == DeviceStatus(
            "d1",
            when(31, hours=1),
            "expired",
            code_a,
            BackupView(
                code="*****-*****-*****-7C8D9",
                state="activation_failed",
                added_at=when(2),
                failure="device_limit_reached",
            ),
            ["try_again", "remove_license"],
        )
        with pytest.raises(UnknownDevice) as unknown:
            store.open().status("d1", as_of=parse_moment("2024-12-31T23:59:59Z", field="at"))
        assert str(unknown.value) == "device 'd1' was never registered as of 2024-12-31T23:59:59Z"

    def test_provisional_is_judged_at_the_time_asked(self, store: Store) -> None:
        ledger = store.open()
        ledger.append(
            [
                issued(CODE_A, at=at(0), purchased_at=at(0)),
                registered("d1", at=at(0)),
                entered("d1", CODE_A, at=at(0, hours=2)),
            ]
        )
        early = ledger.status("d1", as_of=when(0, hours=23, minutes=59))
        late = ledger.status("d1", as_of=when(1))
        assert early.license is not None and late.license is not None
        assert (early.license.provisional, late.license.provisional) == (True, False)

    def test_trace_includes_the_blocks_that_reached_the_device(self, store: Store) -> None:
        ledger = store.open()
        ledger.append(
            [
                issued(CODE_A, max_devices=3, at=at(0)),
                registered("d1", at=at(0)),
                registered("d2", at=at(0)),
                registered("d3", at=at(0)),
                entered("d1", CODE_A, at=at(1)),
                entered("d2", CODE_A, at=at(1)),
                blocked(CODE_A, reason="refund", at=at(2)),
            ]
        )
        assert ledger.trace("d2") == [
            TraceEntry(3, "DeviceRegistered", when(0), "recorded", None, None, "unlicensed"),
            TraceEntry(6, "CodeEntered", when(1), "activated", None, None, "active"),
            TraceEntry(
                7,
                "CodeBlocked",
                when(2),
                "blocked",
                None,
                {"blocked_devices": ["d1", "d2"]},
                "blocked",
                evidence=(5, 6),  # what gave d1 and d2 their licenses
            ),
        ]
        assert [(e.seq, e.type) for e in ledger.trace("d3")] == [(4, "DeviceRegistered")]
        assert ledger.status("d1", as_of=when(2)).state == "blocked"
        assert ledger.status("d1", as_of=when(1, hours=23)).state == "active"
        assert ledger.status("d3", as_of=when(3)).state == "unlicensed"
        with pytest.raises(UnknownDevice) as unknown:
            ledger.trace("d9")
        assert str(unknown.value) == "device 'd9' was never registered"

    def test_two_ledgers_on_one_store_see_each_other(self, store: Store) -> None:
        one, two = store.open(), store.open()
        one.append([issued(CODE_SEAT, max_devices=1, at=at(0)), registered("d1", at=at(0))])
        two.append([registered("d2", at=at(0))])
        [taken] = one.append([entered("d1", CODE_SEAT, at=at(1))])
        [lost] = two.append([entered("d2", CODE_SEAT, at=at(1))])
        assert (taken.seq, taken.result) == (4, "activated")
        assert (lost.seq, lost.result, lost.reason) == (5, "rejected", "device_limit_reached")
        assert two.status("d1", as_of=when(2)).state == "active"
        assert one.verify().ok


class TestTick:
    def test_tick_appends_the_due_expiries_once(self, store: Store) -> None:
        clock = Clock("2025-01-01T00:00:00Z")
        ledger = store.open(clock=clock)
        ledger.append(
            [
                issued(CODE_A, term_days=30, at=at(0)),
                issued(CODE_B, term_days=10, at=at(0)),
                issued(CODE_SEAT, term_days=365, at=at(0)),
                registered("d1", at=at(0)),
                registered("d2", at=at(0)),
                entered("d1", CODE_A, at=at(1)),
                entered("d2", CODE_B, at=at(1)),
                entered("d2", CODE_SEAT, at=at(2)),
            ]
        )
        assert ledger.tick(now=when(10)) == []
        assert seqs(ledger) == list(range(1, 9))

        clock.set(at(40))
        ticked = ledger.tick()
        assert ticked == [
            Appended(9, "LicenseExpired", when(40), "renewed", None, None, evidence=(8,)),
            Appended(10, "LicenseExpired", when(40), "expired", None, None),
        ]
        assert [(e.seq, e.type, e.state) for e in ledger.trace("d1")][-1] == (10, "LicenseExpired", "expired")
        assert ledger.tick() == []
        assert ledger.tick(now=when(41)) == []
        assert seqs(ledger) == list(range(1, 11))
        assert ledger.status("d2", as_of=when(40)).state == "active"
        assert ledger.verify().ok


# --- moving a log ----------------------------------------------------------------


class TestExport:
    def test_export_appended_into_a_fresh_store_is_the_same_ledger(self, store: Store) -> None:
        ledger = store.open()
        append_story(ledger)
        exported = list(ledger.export())
        assert all(CODE_A.upper().replace("-", "") not in line for line in exported)

        copy = store.another().open()
        appended = copy.append_lines(exported)
        assert [(a.seq, a.result, a.reason) for a in appended] == STORY_RESULTS
        assert list(copy.export()) == exported
        assert copy.verify() == ledger.verify()
        assert replayed_results(copy) == replayed_results(ledger)
        for device in ("d1", "d2", "d3"):
            assert copy.trace(device) == ledger.trace(device)
            for day in (0, 1, 2, 31, 32, 40, 50):
                assert copy.status(device, as_of=when(day)) == ledger.status(device, as_of=when(day))

        # The event with an id, appended again, is answered from the store.
        assert copy.append_lines([exported[11]])[0].stored is False


# --- the schema guards the log ----------------------------------------------------


class TestAppendOnly:
    def test_update_delete_and_out_of_order_inserts_are_refused(self, store: Store) -> None:
        ledger = store.open()
        append_story(ledger)
        exported = list(ledger.export())
        conn = store.raw()
        update = "license-ledger: the event log is append-only (UPDATE refused)"
        delete = "license-ledger: the event log is append-only (DELETE refused)"
        for statement, message in (
            ("UPDATE events SET type = 'LicenseRemoved' WHERE seq = 15", update),
            ("DELETE FROM events WHERE seq = 22", delete),
            ("DELETE FROM events", delete),
        ):
            assert refusal(store, conn, statement) == message

        row = next(iter(ledger.backend.events(after=21)))
        columns = "seq, type, at, device, idempotency_key, schema_version, payload, hash"
        values = [
            row.type,
            row.at,
            row.device,
            row.idempotency_key,
            row.schema_version,
            row.payload,
            row.hash,
        ]
        insert = f"INSERT INTO events ({columns}) VALUES (?,?,?,?,?,?,?,?)"
        for seq in (1, 22, 24, 100):
            assert refusal(store, conn, insert, (seq, *values)) == "license-ledger: seq must be the next one"
        duplicate = (23, "CodeEntered", row.at, "d1", "d1-enters-b", 1, "{}", "0")
        assert refusal(store, conn, insert, duplicate) == store.duplicate_key_error
        assert list(ledger.export()) == exported
        assert ledger.verify().ok


def refusal(store: Store, conn: Any, statement: str, params: tuple[Any, ...] = ()) -> str:
    """What the database said when it refused ``statement`` (it must refuse it, with the store's error)."""
    with pytest.raises(store.refused_error) as refused:
        conn.execute(statement, params)
    return store.message(refused.value)


class TestSnapshots:
    def test_reopening_resumes_from_the_snapshot(self, store: Store) -> None:
        ledger = store.open(snapshot_every=5)
        for start in range(0, 12, 3):
            ledger.append(STORY[start : start + 3])
        # Taken when 5 or more events were appended since the last one: at 6, then at 12.
        assert snapshot_seq(ledger) == 12
        ledger.close()

        watched: list[Watched] = []

        def wrap(backend: Any) -> Watched:
            watched.append(Watched(backend))
            return watched[-1]

        again = store.open(snapshot_every=5, wrap=wrap)
        [next_one] = again.append([STORY[12]])
        assert (next_one.seq, next_one.result) == (13, "activated")
        assert watched[0].replayed_from == []  # nothing replayed: the snapshot was the head

        other = store.open(snapshot_every=5)
        other.append(STORY[13:16])  # another writer moves the head on
        rest = again.append(STORY[16:])
        assert watched[0].replayed_from == [13]  # caught up from its own head, not from 0
        assert [(a.seq, a.result, a.reason) for a in rest] == STORY_RESULTS[16:]
        assert snapshot_seq(again) == 22
        assert [(seq, r, why) for seq, r, why, _ in replayed_results(again)] == STORY_RESULTS
        report = again.verify()
        assert (report.ok, report.events, report.first_bad_seq) == (True, 22, None)
        snapshot = again.backend.snapshot()
        assert snapshot is not None
        assert snapshots.same_state(snapshots.load(snapshot.world), again.world())

    def test_verify_checks_the_snapshot(self, store: Store) -> None:
        ledger = store.open(snapshot_every=5)
        ledger.append(STORY[:9])
        snapshot = ledger.backend.snapshot()
        assert snapshot is not None and snapshot.seq == 9
        world = snapshots.load(snapshot.world)
        world.devices["d3"].app_version = "99.0"
        conn = store.raw()
        conn.execute("UPDATE snapshots SET world = ?", (snapshots.dump(world),))
        report = ledger.verify()
        assert (report.ok, report.first_bad_seq, report.problem) == (
            False,
            9,
            "the snapshot taken at this seq differs from replay",
        )
        conn.execute("UPDATE snapshots SET world = ?, chain_hash = ?", (snapshot.world, "0" * 64))
        assert ledger.verify().problem == "the snapshot at this seq names another chain hash (it is not used)"
        conn.execute("UPDATE snapshots SET chain_hash = ?, format = 1", (snapshot.chain_hash,))
        assert ledger.verify().problem == "the snapshot at this seq has format 1, not 4 (it is not used)"
        conn.execute("UPDATE snapshots SET seq = 40, format = 3")
        report = ledger.verify()
        assert (report.ok, report.first_bad_seq, report.problem) == (
            False,
            10,
            "a snapshot claims seq 40, beyond the last event (seq 9)",
        )

    @pytest.mark.parametrize("forgery", ["a seat given away", "beyond the head", "another chain", "garbage"])
    def test_a_snapshot_that_does_not_match_the_log_is_not_used(self, store: Store, forgery: str) -> None:
        ledger = store.open(snapshot_every=3)
        ledger.append(
            [issued(CODE_B, max_devices=1, at=at(0)), registered("d1", at=at(0)), registered("d2", at=at(0))]
        )
        ledger.append([entered("d1", CODE_B, at=at(1))])  # the only seat is d1's
        ledger.close()
        snapshot = store.open().backend.snapshot()
        assert snapshot is not None and snapshot.seq == 3
        conn = store.raw()
        if forgery == "a seat given away":
            # Written with the right chain hash: only verify's replay can tell.
            forged = snapshots.load(snapshot.world)
            conn.execute(
                "UPDATE snapshots SET world = ?, seq = 4, chain_hash = ?", (snapshots.dump(forged), "0" * 64)
            )
        elif forgery == "beyond the head":
            conn.execute("UPDATE snapshots SET seq = 400")
        elif forgery == "another chain":
            conn.execute("UPDATE snapshots SET chain_hash = ?", ("f" * 64,))
        else:
            conn.execute("UPDATE snapshots SET world = ?", (b"\x93garbage",))
        reopened = store.open(snapshot_every=1000)
        [second] = reopened.append([entered("d2", CODE_B, at=at(2))])
        assert (second.result, second.reason) == ("rejected", "device_limit_reached")
        assert not reopened.verify().ok


def snapshot_seq(ledger: Ledger) -> int | None:
    snapshot = ledger.backend.snapshot()
    return None if snapshot is None else snapshot.seq


class Watched:
    """A backend that notes where each replay starts (a real backend inside)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.replayed_from: list[int] = []

    def payloads(self, after: int = 0, at_most: str | None = None) -> Iterator[tuple[int, str]]:
        if at_most is None:
            self.replayed_from.append(after)
        return self.inner.payloads(after=after, at_most=at_most)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class TestForensicReads:
    """The indexed reads that diff, first, devices and what-if need, on every backend."""

    def test_the_demo_story_answers_the_same_on_every_backend(self, store: Store) -> None:
        from license_ledger.cli.demo import run

        ledger = store.open(snapshot_every=10)
        run(ledger)
        backend = ledger.backend
        assert backend.seq_at("2025-03-12T00:00:00.000000Z") == 24
        assert backend.seq_at("2000-01-01T00:00:00.000000Z") == 0
        kept = backend.snapshot_seqs()  # taken at the batches that cross each 10 events
        assert len(kept) == 2 and kept == sorted(kept) and kept[-1] <= 38
        assert [row[0] for row in backend.status_rows("kids-tablet", 20, 30)] == [29, 30]
        assert [row[0] for row in backend.status_rows("kids-tablet", state="expired")] == [29, 30]
        assert [row[0] for row in backend.status_rows("kids-tablet", result="renewed")] == [32]
        assert backend.status_before("kids-tablet", 28) is not None
        assert backend.states(28, "expired") == [] and backend.states(29, "expired") == [
            ("kids-tablet", "expired")
        ]
        assert backend.states(38, after="office-desktop", limit=2) == [
            ("reception-pc", "active"),
            ("studio-pc", "unlicensed"),
        ]
        assert set(backend.latest_statuses(["kids-tablet", "nobody"], 38)) == {"kids-tablet"}
        assert ledger.first("reception-pc", state="blocked").seq == 24
        assert ledger.what_if(drop=[16]).first_divergence == 29
        assert ledger.verify().ok

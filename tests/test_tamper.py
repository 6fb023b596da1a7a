"""Someone edits the SQLite file behind the ledger's back: verify must notice, and say where.

The triggers refuse UPDATE and DELETE, so each test first drops them, as
anyone with the file and the sqlite3 shell can. Also: no raw activation code
ever reaches the file's bytes.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from license_ledger.errors import InputRefused
from license_ledger.ledger import Ledger
from license_ledger.store.audit import VerifyReport
from stores import CODE_A, CODE_B, at, blocked, device_event, entered, issued, registered, updated

LOG = [
    issued(CODE_A, max_devices=2, at=at(0)),  # 1
    issued(CODE_B, term_days=365, at=at(0)),  # 2
    registered("d1", at=at(0)),  # 3
    registered("d2", at=at(0)),  # 4
    entered("d1", CODE_A, at=at(1)),  # 5 activated
    entered("d2", CODE_A, at=at(1)),  # 6 activated
    blocked(CODE_A, reason="refund", at=at(2)),  # 7 blocked d1 and d2
    entered("d1", CODE_B, at=at(3)),  # 8 backup_added
    device_event("ActivateNowClicked", "d1", at=at(3)),  # 9 renewed
    updated("d2", "22.0", at=at(4)),  # 10
    device_event("ConsoleConnectionChanged", "d2", connected=False, at=at(5)),  # 11
    device_event("LicenseRemoved", "d2", at=at(6)),  # 12 removed
]

HASH_MISMATCH = "the hash does not match: this row was altered, or rows before it were removed or reordered"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.db"
    with Ledger.open(path) as ledger:
        ledger.append(LOG)
        assert ledger.verify().ok
    return path


def tamper(path: Path, change: Callable[[sqlite3.Connection], object]) -> VerifyReport:
    """Drop the triggers, apply ``change`` with sqlite3, then verify with a fresh Ledger."""
    conn = sqlite3.connect(path, isolation_level=None)
    triggers = conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
    assert len(triggers) == 3
    for (name,) in triggers:
        conn.execute(f"DROP TRIGGER {name}")
    change(conn)
    conn.close()
    with Ledger.open(path) as ledger:
        return ledger.verify()


def sql(statement: str) -> Callable[[sqlite3.Connection], object]:
    return lambda conn: conn.execute(statement)


def swap(column: str, one: int, two: int) -> Callable[[sqlite3.Connection], None]:
    def change(conn: sqlite3.Connection) -> None:
        (a,) = conn.execute(f"SELECT {column} FROM events WHERE seq = ?", (one,)).fetchone()
        (b,) = conn.execute(f"SELECT {column} FROM events WHERE seq = ?", (two,)).fetchone()
        conn.execute(f"UPDATE events SET {column} = ? WHERE seq = ?", (b, one))
        conn.execute(f"UPDATE events SET {column} = ? WHERE seq = ?", (a, two))

    return change


def swap_rows(one: int, two: int) -> Callable[[sqlite3.Connection], None]:
    """Move whole rows (every column but seq), as a reordering would."""

    def change(conn: sqlite3.Connection) -> None:
        for column in ("type", "at", "device", "idempotency_key", "payload", "hash"):
            swap(column, one, two)(conn)

    return change


CASES = {
    "a value in a payload": (
        sql("""UPDATE events SET payload = replace(payload, '"22.0"', '"23.0"') WHERE seq = 10"""),
        10,
        HASH_MISMATCH,
    ),
    "a payload with its copied column": (
        sql("""UPDATE events SET payload = replace(payload, '"d2"', '"d1"'), device = 'd1' WHERE seq = 10"""),
        10,
        HASH_MISMATCH,
    ),
    "a result": (
        sql("UPDATE event_results SET result = 'rejected', reason = 'device_limit_reached' WHERE seq = 6"),
        6,
        "stored result rejected/device_limit_reached differs from replay activated/None",
    ),
    "a result's details": (
        sql("""UPDATE event_results SET detail = '{"blocked_devices":["d1"]}' WHERE seq = 7"""),
        7,
        "the stored details of this result differ from replay",
    ),
    "a result deleted": (
        sql("DELETE FROM event_results WHERE seq = 9"),
        9,
        "no stored result for this event (the projection is incomplete: `rebuild` derives it)",
    ),
    "a copied column": (
        sql("UPDATE events SET device = 'd1' WHERE seq = 10"),
        10,
        "column device says 'd1', the payload 'd2'",
    ),
    "a stored status": (
        sql(
            "UPDATE status_after SET status = (SELECT status FROM status_after WHERE seq = 3) "
            "WHERE seq = 11 AND device = 'd2'"
        ),
        11,
        "the stored status of d2 after this event differs from replay",
    ),
    "a stored state": (
        sql("UPDATE status_after SET state = 'active' WHERE seq = 11 AND device = 'd2'"),
        11,
        "the stored status of d2 after this event differs from replay",
    ),
    "a schema version from the future": (
        sql("UPDATE events SET schema_version = 2 WHERE seq = 5"),
        5,
        "column schema_version says 2, not a schema version this license-ledger knows (1 to 1)",
    ),
    "a schema version from before the first": (
        sql("UPDATE events SET schema_version = 0 WHERE seq = 5"),
        5,
        "column schema_version says 0, not a schema version this license-ledger knows (1 to 1)",
    ),
    "a middle row deleted": (
        sql("DELETE FROM events WHERE seq = 8"),
        8,
        "seq 8 is missing (the next row is seq 9)",
    ),
    "the first row deleted": (
        sql("DELETE FROM events WHERE seq = 1"),
        1,
        "seq 1 is missing (the next row is seq 2)",
    ),
    "two payloads swapped": (swap("payload", 10, 11), 10, HASH_MISMATCH),
    "two rows swapped": (swap_rows(3, 4), 3, HASH_MISMATCH),
    "the status a block left deleted": (
        sql("DELETE FROM status_after WHERE device = 'd2' AND seq = 7"),
        7,
        "the stored status of d2 after this event differs from replay",
    ),
    "a status added to an event": (
        sql(
            "INSERT INTO status_after (seq, device, state, status) "
            "SELECT 10, 'd1', state, status FROM status_after WHERE seq = 7 AND device = 'd1'"
        ),
        10,
        "a status of d1 is stored for this event, but replay has none",
    ),
    "the status a block left altered": (
        sql(
            "UPDATE status_after SET status = (SELECT status FROM status_after WHERE seq = 3) "
            "WHERE device = 'd1' AND seq = 7"
        ),
        7,
        "the stored status of d1 after this event differs from replay",
    ),
    "the last event deleted, its projection left": (
        sql("DELETE FROM events WHERE seq = 12"),
        12,
        "the projection holds seq 12, beyond the last event (seq 11): events were removed from the end of the log",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_verify_names_the_first_bad_seq(path: Path, case: str) -> None:
    change, first_bad, problem = CASES[case]
    report = tamper(path, change)
    assert (report.ok, report.first_bad_seq, report.problem) == (False, first_bad, problem)


def test_an_untouched_file_verifies_after_dropping_the_triggers(path: Path) -> None:
    report = tamper(path, lambda conn: None)
    assert (report.ok, report.events, report.head_seq, report.first_bad_seq) == (True, 12, 12, None)


def test_a_truncated_tail_is_caught_against_the_noted_head(path: Path) -> None:
    with Ledger.open(path) as ledger:
        noted = ledger.verify()
    assert noted.head_hash is not None
    head = (noted.head_seq, noted.head_hash)

    def truncate(conn: sqlite3.Connection) -> None:
        # A careful forger drops the projection of the removed events too.
        for table in ("events", "event_results", "status_after"):
            conn.execute(f"DELETE FROM {table} WHERE seq > 10")
        conn.execute("DELETE FROM snapshots")

    report = tamper(path, truncate)
    # The rest of the chain is intact: only the noted head shows what is missing.
    assert (report.ok, report.head_seq) == (True, 10)
    with Ledger.open(path) as ledger:
        report = ledger.verify(expect_head=head)
    assert (report.ok, report.first_bad_seq, report.problem) == (
        False,
        11,
        "the noted head is seq 12, but the log ends at seq 10: truncated",
    )


def test_a_rewritten_history_is_caught_against_the_noted_head(path: Path, tmp_path: Path) -> None:
    with Ledger.open(path) as ledger:
        noted = ledger.verify()
        assert ledger.verify(expect_head=(noted.head_seq, noted.head_hash or "")).ok
        earlier = ledger.events(after=4, limit=1)[0]
    # A whole new file, consistent in itself, where d2 never went to 22.0.
    forged = tmp_path / "forged.db"
    with Ledger.open(forged) as ledger:
        ledger.append([updated("d2", "21.9", at=at(4)) if e is LOG[9] else e for e in LOG])
        assert ledger.verify().ok
    shutil.copyfile(forged, path)
    with Ledger.open(path) as ledger:
        assert ledger.verify().ok
        report = ledger.verify(expect_head=(noted.head_seq, noted.head_hash or ""))
        assert (report.ok, report.first_bad_seq, report.problem) == (
            False,
            12,
            "the hash at the noted head differs: history was rewritten",
        )
        # A head noted before the forged event still matches: the forgery starts later.
        assert ledger.verify(expect_head=(earlier.seq, earlier.hash)).ok


# --- no raw code reaches the disk ------------------------------------------------------

MALFORMED = "hello-world-12"
UNKNOWN = "zzzzz yyyyy xxxxx 9w9w9"


def forms(typed: str) -> set[bytes]:
    """A code as typed, normalised, hyphenated, lower-cased, and its hidden part."""
    normal = typed.replace("-", "").replace(" ", "").upper()
    grouped = "-".join(normal[i : i + 5] for i in range(0, len(normal), 5))
    found = {typed, normal, normal.lower(), grouped, grouped.lower(), normal[:15]}
    return {text.encode() for text in found if len(text) >= 10}


def file_bytes(path: Path) -> bytes:
    return b"".join(
        Path(f"{path}{suffix}").read_bytes()
        for suffix in ("", "-wal", "-shm")
        if Path(f"{path}{suffix}").exists()
    )


def test_no_raw_code_reaches_the_database_or_its_wal(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    secrets = forms(CODE_A) | forms(CODE_B) | forms(MALFORMED) | forms(UNKNOWN)
    with Ledger.open(path) as ledger:
        ledger.append(
            [
                issued(CODE_A, max_devices=2, at=at(0), id="issue-a"),
                issued(CODE_B, at=at(0)),
                registered("d1", at=at(0)),
                registered("d2", at=at(0)),
                entered("d1", CODE_A, at=at(1)),
                entered("d1", CODE_B, at=at(1)),
                entered("d2", MALFORMED, at=at(1)),
                entered("d2", UNKNOWN, at=at(1)),
                entered("d2", CODE_A.upper(), at=at(1)),
                blocked(CODE_A, reason="refund", at=at(2)),
            ]
        )
        ledger.append([issued(CODE_A, max_devices=2, at=at(0), id="issue-a")])  # a repeat
        with pytest.raises(InputRefused):  # refused: a malformed code issued
            ledger.append([issued(CODE_B.lower(), at=at(3)), issued(MALFORMED, at=at(3))])
        wal = Path(f"{path}-wal")
        assert wal.stat().st_size > 0  # the events are in the WAL until a checkpoint
        on_disk = file_bytes(path)
        # The bytes read are the log's: the fingerprint and the visible tail are there.
        assert hashlib.sha256(b"ABCDEFGHIJKLMNO1A2B3").hexdigest().encode() in on_disk
        assert b"1A2B3" in on_disk
        assert [s for s in secrets if s in on_disk] == []
    after_close = file_bytes(path)
    assert b"1A2B3" in after_close
    assert [s for s in secrets if s in after_close] == []

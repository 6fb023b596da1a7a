"""The command line as auditors and support staff run it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from license_ledger.cli import main

CODE_A = "AAAAA-BBBBB-CCCCC-DDDDD"
CODE_B = "EEEEE-FFFFF-GGGGG-HHHHH"

STORY = [
    {
        "type": "CodeIssued",
        "at": "2026-01-05T10:00:00Z",
        "code": CODE_A,
        "kind": "commercial",
        "term_days": 30,
        "max_devices": 1,
    },
    {
        "type": "CodeIssued",
        "at": "2026-01-05T10:00:00Z",
        "code": CODE_B,
        "kind": "commercial",
        "term_days": 365,
        "max_devices": 1,
    },
    {"type": "DeviceRegistered", "at": "2026-01-06T09:00:00Z", "device": "laptop", "app_version": "22.1"},
    {"type": "DeviceRegistered", "at": "2026-01-06T09:00:00Z", "device": "tablet", "app_version": "22.1"},
    {"type": "CodeEntered", "at": "2026-01-06T09:01:00Z", "device": "laptop", "code": CODE_A},
    {"type": "CodeEntered", "at": "2026-01-06T09:02:00Z", "device": "tablet", "code": CODE_A},
    {"type": "CodeEntered", "at": "2026-01-07T09:00:00Z", "device": "laptop", "code": CODE_B},
]


def lines(events: list[dict[str, object]]) -> str:
    return "".join(json.dumps(e) + "\n" for e in events)


def run(*args: str, input: str | None = None, db: Path | None = None) -> Result:
    argv = list(args) + (["--db", str(db)] if db is not None else [])
    return CliRunner().invoke(main, argv, input=input, catch_exceptions=False)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.db"
    result = run("append", "-", input=lines(STORY), db=path)
    assert result.exit_code == 0, result.output
    return path


def head(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0])


def test_append_prints_seq_result_and_reason_as_json(tmp_path: Path) -> None:
    result = run("append", "-", "--json", input=lines(STORY), db=tmp_path / "x.db")
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["seq"], r["result"], r["reason"]) for r in rows] == [
        (1, "recorded", None),
        (2, "recorded", None),
        (3, "recorded", None),
        (4, "recorded", None),
        (5, "activated", None),
        (6, "rejected", "device_limit_reached"),
        (7, "backup_added", None),
    ]
    assert rows[5]["detail"] == {"max_devices": 1, "held_by": ["laptop"]}


def test_append_human_output_names_results(tmp_path: Path) -> None:
    result = run("append", "-", input=lines(STORY), db=tmp_path / "x.db")
    assert "rejected (device_limit_reached)" in result.output
    assert "why: 1 of 1 seats held by laptop" in result.output
    assert "Stored 7 events." in result.output


def test_status_json_has_the_spec_shape(db: Path) -> None:
    result = run("status", "laptop", "--as-of", "2026-01-07T10:00:00+01:00", "--json", db=db)
    assert result.exit_code == 0
    assert json.loads(result.output) == {
        "device": "laptop",
        "as_of": "2026-01-07T09:00:00Z",
        "state": "active",
        "license": {
            "code": "*****-*****-*****-DDDDD",
            "kind": "commercial",
            "activated_at": "2026-01-06T09:01:00Z",
            "expires_at": "2026-02-05T09:01:00Z",
            "provisional": False,
        },
        "backup": {
            "code": "*****-*****-*****-HHHHH",
            "state": "pending",
            "added_at": "2026-01-07T09:00:00Z",
            "failure": None,
        },
        "actions": ["remove_license"],
    }


def test_status_as_of_before_an_event(db: Path) -> None:
    result = run("status", "laptop", "--as-of", "2026-01-06T09:00:30Z", "--json", db=db)
    assert json.loads(result.output)["state"] == "unlicensed"


def test_status_human_panel(db: Path) -> None:
    result = run("status", "laptop", "--as-of", "2026-01-07T10:00:00Z", db=db)
    assert "laptop as of 2026-01-07T10:00:00Z" in result.output
    assert "*****-*****-*****-HHHHH  pending" in result.output


def test_trace_json_lists_events_with_state_after(db: Path) -> None:
    result = run("trace", "tablet", "--json", db=db)
    assert result.exit_code == 0
    assert json.loads(result.output) == [
        {
            "seq": 4,
            "type": "DeviceRegistered",
            "at": "2026-01-06T09:00:00Z",
            "result": "recorded",
            "reason": None,
            "detail": None,
            "state": "unlicensed",
            "evidence": [],
        },
        {
            "seq": 6,
            "type": "CodeEntered",
            "at": "2026-01-06T09:02:00Z",
            "result": "rejected",
            "reason": "device_limit_reached",
            "detail": {"max_devices": 1, "held_by": ["laptop"]},
            "state": "unlicensed",
            "evidence": [5],  # the laptop's activation took the one seat
        },
    ]


def test_tick_appends_due_expiries_and_renews(db: Path) -> None:
    result = run("tick", "--now", "2026-02-05T09:01:00Z", "--json", db=db)
    assert result.exit_code == 0
    [row] = [json.loads(line) for line in result.output.splitlines()]
    assert (row["seq"], row["type"], row["result"]) == (8, "LicenseExpired", "renewed")
    again = run("tick", "--now", "2026-02-05T09:01:00Z", db=db)
    assert "No license was due: nothing was appended." in again.output


def test_verify_prints_the_head_and_exit_0(db: Path) -> None:
    result = run("verify", db=db)
    assert result.exit_code == 0
    assert result.output.startswith("OK: 7 events")
    assert "Chain head: 7:" in result.output


def test_replay_json_summarises(db: Path) -> None:
    result = run("replay", "--json", db=db)
    summary = json.loads(result.output)
    assert summary["events"] == 7
    assert summary["devices_by_state"] == {"active": 1, "unlicensed": 1}
    assert summary["results"] == {
        "activated": 1,
        "backup_added": 1,
        "recorded": 4,
        "rejected: device_limit_reached": 1,
    }
    earlier = json.loads(run("replay", "--json", "--as-of", "2026-01-06T09:00:00Z", db=db).output)
    assert earlier["events"] == 4


def test_replay_human_tables(db: Path) -> None:
    result = run("replay", db=db)
    assert "Replayed 7 events: 2 devices." in result.output


def test_export_then_append_to_a_fresh_store_gives_the_same_statuses(db: Path, tmp_path: Path) -> None:
    exported = run("export", db=db).output
    assert CODE_A.replace("-", "") not in exported and CODE_A not in exported
    copy = tmp_path / "copy.db"
    assert run("append", "-", input=exported, db=copy).exit_code == 0
    assert run("export", db=copy).output == exported
    for device in ("laptop", "tablet"):
        args = ("status", device, "--as-of", "2026-03-01T00:00:00Z", "--json")
        assert run(*args, db=copy).output == run(*args, db=db).output
        assert run("trace", device, "--json", db=copy).output == run("trace", device, "--json", db=db).output


def test_export_to_a_file(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "log.jsonl"
    assert run("export", "-o", str(out), db=db).exit_code == 0
    assert len(out.read_text().splitlines()) == 7


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: expected one JSON object per line, found malformed JSON"),
        ('{"type": "Nope"}', "line 2, `$.type`: expected a `type`, one of CodeIssued,"),
        (
            '{"type": "TryAgainClicked"}',
            "line 2, TryAgainClicked, `$.device`: expected the required field `device`, found nothing",
        ),
        (
            '{"type": "CodeIssued", "code": "AAAAA-AAAAA-AAAAA-AAAAA", "kind": "trial", "term_days": 0, "max_devices": 1}',
            "line 2, CodeIssued, `$.term_days`: expected int >= 1, found 0",
        ),
        (
            '{"type": "TryAgainClicked", "device": "phone"}',
            "line 2, TryAgainClicked, `$.device`: expected a registered device, found 'phone', never registered",
        ),
        (
            '{"type": "TryAgainClicked", "device": "laptop", "at": "2020-01-01T00:00:00Z"}',
            "line 2, TryAgainClicked, `$.at`: expected a time at or after 2026-01-08T00:00:00Z (the event before it), found 2020-01-01T00:00:00Z",
        ),
        (
            '{"type": "CodeIssued", "code": "AAAAA-AAAAA", "kind": "trial", "term_days": 1, "max_devices": 1}',
            "line 2, CodeIssued, `$.code`: expected an activation code of 20 letters and digits (XXXXX-XXXXX-XXXXX-XXXXX), found 10 characters",
        ),
    ],
)
def test_refused_input_exits_2_names_the_line_and_stores_nothing(db: Path, line: str, message: str) -> None:
    good = '{"type": "TryAgainClicked", "device": "laptop", "at": "2026-01-08T00:00:00Z"}'
    result = run("append", "-", input=f"{good}\n{line}\n", db=db)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {message}")
    assert result.stderr.rstrip().endswith("Nothing was stored.")
    assert head(db) == 7


def test_unknown_device_missing_file_and_not_a_ledger_are_one_line_errors(db: Path, tmp_path: Path) -> None:
    unknown = run("status", "phone", db=db)
    assert unknown.exit_code == 2
    assert unknown.stderr.startswith("Error: device 'phone' was never registered as of ")
    trace = run("trace", "phone", db=db)
    assert (trace.exit_code, trace.stderr) == (2, "Error: device 'phone' was never registered\n")
    missing = run("status", "laptop", db=tmp_path / "nope.db")
    assert missing.exit_code == 2
    assert "no such file" in missing.stderr and len(missing.stderr.splitlines()) == 1
    assert not (tmp_path / "nope.db").exists()
    junk = tmp_path / "junk.db"
    junk.write_text("hello, I am not a database\n" * 100)
    refused = run("verify", db=junk)
    assert refused.exit_code == 2
    assert "not a license-ledger file" in refused.stderr and len(refused.stderr.splitlines()) == 1


def test_bad_timestamp_is_a_usage_error(db: Path) -> None:
    result = run("status", "laptop", "--as-of", "yesterday", db=db)
    assert result.exit_code == 2
    assert "expected an RFC 3339 timestamp" in result.stderr


def test_db_from_the_environment(db: Path) -> None:
    result = CliRunner(env={"LICENSE_LEDGER_DB": str(db)}).invoke(main, ["status", "laptop", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["device"] == "laptop"


def test_schema_and_diagram(tmp_path: Path) -> None:
    union = json.loads(run("schema").output)
    assert union["title"] == "event"
    assert run("schema", "--out", str(tmp_path / "s")).exit_code == 0
    assert (tmp_path / "s" / "CodeEntered.json").exists()
    diagram = run("diagram").output
    assert diagram.count("stateDiagram-v2") == 1
    assert "active --> blocked: block (20)" in diagram
    assert diagram.startswith('---\ntitle: "license-ledger: ')
    assert max(len(line) for line in diagram.splitlines() if "%%" not in line) < 120


# --- end to end, as real processes -------------------------------------------------


def cli(*args: str, db: Path, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "license_ledger.cli", *args, "--db", str(db)],
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "120"},
    )


def test_end_to_end_append_status_trace_export_import(tmp_path: Path) -> None:
    db, copy = tmp_path / "a.db", tmp_path / "b.db"
    assert cli("append", "-", db=db, input=lines(STORY)).returncode == 0
    exported = cli("export", db=db).stdout
    assert cli("append", "-", db=copy, input=exported).returncode == 0
    for device in ("laptop", "tablet"):
        a = cli("status", device, "--as-of", "2026-03-01T00:00:00Z", "--json", db=db)
        b = cli("status", device, "--as-of", "2026-03-01T00:00:00Z", "--json", db=copy)
        assert a.returncode == 0 and a.stdout == b.stdout
        assert cli("trace", device, "--json", db=db).stdout == cli("trace", device, "--json", db=copy).stdout
    assert cli("verify", db=copy).returncode == 0


def test_end_to_end_verify_catches_tampering_with_sqlite3(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    assert cli("append", "-", db=db, input=lines(STORY)).returncode == 0
    with sqlite3.connect(db) as conn:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE events SET type = 'CodeBlocked' WHERE seq = 6")
        conn.execute("DROP TRIGGER events_are_append_only_update")
        conn.execute(
            "UPDATE events SET payload = replace(payload, '\"term_days\":30', '\"term_days\":300') WHERE seq = 1"
        )
    result = cli("verify", db=db)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: Damaged at seq 1: the hash does not match")


def test_end_to_end_refused_input_stores_nothing(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    bad = lines(STORY[:3]) + '{"type": "CodeEntered", "device": "ghost", "code": "x"}\n'
    result = cli("append", "-", db=db, input=bad)
    assert result.returncode == 2
    assert "line 4" in result.stderr and "Nothing was stored." in result.stderr
    assert not db.exists()  # the file did not exist before: none is left behind
    assert cli("append", "-", db=db, input=lines(STORY[:3])).returncode == 0
    assert cli("append", "-", db=db, input=bad).returncode == 2
    assert head(db) == 3


def test_token_new_prints_a_token_once_and_stores_its_hash(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    result = run("token", "new", "--role", "device", "--device", "laptop", "--tokens", str(tokens))
    assert result.exit_code == 0
    token = result.output.strip()
    assert token and token not in tokens.read_text()
    bad = run("token", "new", "--role", "emperor", "--tokens", str(tokens))
    assert bad.exit_code == 2


def test_serve_refuses_to_start_without_tokens(tmp_path: Path) -> None:
    result = run("serve", db=tmp_path / "x.db")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and "--insecure-no-auth" in result.stderr


def test_tick_in_the_past_is_refused_without_a_line_number(db: Path) -> None:
    result = run("tick", "--now", "2025-01-01T00:00:00Z", db=db)
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: `now`: expected a time at or after 2026-01-07T09:00:00Z (the last event's), "
        "found 2025-01-01T00:00:00Z. Nothing was stored.\n"
    )


def test_token_list_and_revoke(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    run("token", "new", "--role", "admin", "--tokens", str(tokens))
    run("token", "new", "--role", "device", "--device", "laptop", "--tokens", str(tokens))
    listed = json.loads(run("token", "list", "--json", "--tokens", str(tokens)).output)
    assert [(t["role"], t["device"]) for t in listed] == [("admin", None), ("device", "laptop")]
    human = run("token", "list", "--tokens", str(tokens)).output
    assert f"{listed[1]['id']}  device    created " in human and "device laptop" in human
    revoked = run("token", "revoke", listed[1]["id"], "--tokens", str(tokens))
    assert revoked.exit_code == 0
    assert revoked.output.startswith(f"Revoked {listed[1]['id']}: device (device laptop)")
    again = run("token", "revoke", listed[1]["id"], "--tokens", str(tokens))
    assert again.exit_code == 2 and "found no token" in again.stderr


def test_a_ledger_in_a_folder_that_does_not_exist_is_a_one_line_error(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "ledger.db"
    result = run("append", "-", input=lines(STORY[:1]), db=target)
    assert result.exit_code == 2
    assert result.stderr == f"Error: {target}: cannot create a ledger there: no folder {target.parent}\n"
    assert not target.parent.exists()


@pytest.mark.parametrize(
    "head",
    [
        "٣:" + "a" * 64,  # Arabic-Indic digit three
        "3:" + "a" * 63,
        "3:" + "g" * 64,
        "3:abc",
        "3",
        ":" + "a" * 64,
        "99999999999999999999999:" + "a" * 64,
    ],
)
def test_expect_head_takes_ascii_digits_and_64_hex_digits_only(tmp_path: Path, head: str) -> None:
    db = tmp_path / "a.db"
    assert cli("append", "-", db=db, input=lines(STORY)).returncode == 0
    result = cli("verify", "--expect-head", head, db=db)
    assert result.returncode == 2
    assert (
        "Invalid value for --expect-head: expected SEQ:HASH (a number, a colon, 64 hex digits"
        in result.stderr
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-02-30T00:00:00Z"]
)
@pytest.mark.parametrize(
    "command", [["status", "laptop", "--as-of"], ["replay", "--as-of"], ["tick", "--now"]]
)
def test_times_at_the_ends_of_the_calendar_are_refused_in_one_line(
    tmp_path: Path, command: list[str], moment: str
) -> None:
    db = tmp_path / "a.db"
    assert cli("append", "-", db=db, input=lines(STORY)).returncode == 0
    result = cli(*command, moment, db=db)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"Invalid value for '{command[-1]}': expected " in result.stderr

"""The command line on more results than a screen holds: summaries, --all, JSON lines, quiet pipes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from license_ledger import InputRefused, Ledger
from license_ledger.cli import main

CODE = "AAAAA-BBBBB-CCCCC-DDDDD"
DEVICES = [f"d{n:02d}" for n in range(1, 51)]


def crowd() -> str:
    """One single-seat code, fifty devices entering it: one activation, 49 refusals."""
    events: list[dict[str, object]] = [
        {"type": "CodeIssued", "at": "2026-01-05T10:00:00Z", "code": CODE, "kind": "commercial"}
        | {"term_days": 30, "max_devices": 1}
    ]
    events += [
        {"type": "DeviceRegistered", "at": "2026-01-06T09:00:00Z", "device": d, "app_version": "22.1"}
        for d in DEVICES
    ]
    events += [
        {"type": "CodeEntered", "at": "2026-01-06T10:00:00Z", "device": d, "code": CODE} for d in DEVICES
    ]
    return "".join(json.dumps(e) + "\n" for e in events)


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_append_beyond_a_screenful_prints_counts_and_the_first_refusals(tmp_path: Path) -> None:
    result = run("append", "-", "--db", str(tmp_path / "l.db"), input=crowd())
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Stored 101 events." in out
    assert "recorded" in out and " 51" in out
    assert "rejected: device_limit_reached" in out and " 49" in out
    # The first refusals with their seq (the first device activated at seq 52, the next ones were refused).
    assert "First 5 refusals or failures of 49" in out
    assert "53 " in out and "why: 1 of 1 seats held by d01" in out
    assert "--all prints every one" in out
    assert len(out.splitlines()) < 40
    assert result.stderr == ""  # no progress bar off a terminal


def test_append_all_prints_every_row(tmp_path: Path) -> None:
    result = run("append", "-", "--all", "--db", str(tmp_path / "l.db"), input=crowd())
    assert result.exit_code == 0, result.output
    for seq in (1, 52, 101):
        assert any(line.startswith(f"{seq} ") for line in result.stdout.splitlines()), seq
    assert "Stored 101 events." in result.stdout


def test_append_json_is_one_object_per_line(tmp_path: Path) -> None:
    result = run("append", "-", "--json", "--db", str(tmp_path / "l.db"), input=crowd())
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["seq"] for row in rows] == list(range(1, 102))
    assert rows[-1] == {
        "seq": 101,
        "type": "CodeEntered",
        "at": "2026-01-06T10:00:00Z",
        "result": "rejected",
        "reason": "device_limit_reached",
        "detail": {"max_devices": 1, "held_by": ["d01"]},
        "stored": True,
        "evidence": [52],
    }


def test_a_status_is_stored_where_it_changed_and_the_state_after_every_event(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    assert run("append", "-", "--db", str(path), input=crowd()).exit_code == 0
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT seq, state, status IS NOT NULL FROM status_after WHERE device = 'd02'"
    ).fetchall()
    # Registered (a status), refused (the state only: nothing changed).
    assert rows == [(3, "unlicensed", 1), (53, "unlicensed", 0)]
    assert conn.execute("SELECT since_seq, state FROM current_status WHERE device = 'd01'").fetchall() == [
        (52, "active")
    ]
    conn.close()
    with Ledger.open(path, read_only=True) as ledger:
        assert [e.state for e in ledger.trace("d02")] == ["unlicensed", "unlicensed"]
        assert ledger.status("d02", "2026-01-06T11:00:00Z").state == "unlicensed"
        status = ledger.status("d01", "2026-01-06T11:00:00Z")
        assert status.license is not None and status.license.code == "*****-*****-*****-DDDDD"
        assert status.actions == ["remove_license"]
        assert ledger.verify().ok


def test_verify_replay_and_export_print_no_progress_on_a_pipe(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    assert run("append", "-", "--db", str(path), input=crowd()).exit_code == 0
    for command in (["verify"], ["replay", "--json"], ["export"], ["rebuild"]):
        result = run(*command, "--db", str(path))
        assert result.exit_code == 0, result.output
        assert result.stderr == "", command
    exported = run("export", "--db", str(path)).stdout
    assert exported.count("\n") == 101


def test_a_refused_big_batch_leaves_the_world_as_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch too big for an undo journal drops the world on refusal; the next append reads it again."""
    import license_ledger.writing as writing_module

    monkeypatch.setattr(writing_module, "_JOURNAL_UP_TO", 2)
    path = tmp_path / "l.db"
    with Ledger.open(path) as ledger:
        ledger.append_lines(crowd().splitlines()[:3])  # the code, d01, d02
        refused = [
            {"type": "CodeEntered", "at": "2026-01-06T10:00:00Z", "device": "d01", "code": CODE},
            {"type": "DeviceRegistered", "at": "2026-01-06T10:00:00Z", "device": "d03", "app_version": "1.0"},
            {"type": "CodeEntered", "at": "2026-01-06T10:00:00Z", "device": "nobody", "code": CODE},
        ]
        with pytest.raises(InputRefused):
            ledger.append(refused)
        # d01 took no seat, d03 does not exist: d02 gets the only seat, d03 registers anew.
        appended = ledger.append(refused[1:2] + [{**refused[0], "device": "d02"}])
        assert [(a.seq, a.result) for a in appended] == [(4, "recorded"), (5, "activated")]
        assert ledger.verify().ok

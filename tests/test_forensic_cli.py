"""The forensic commands on the demo story: --json shapes, human lines within 80 columns, exits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from license_ledger.cli import main


def run(*args: str, db: Path, input: str | None = None) -> Result:
    return CliRunner().invoke(main, [*args, "--db", str(db)], input=input, catch_exceptions=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "demo.db"
    assert run("demo", db=path).exit_code == 0
    return path


def fits(result: Result) -> None:
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80, result.output


def test_trace_shows_the_evidence_and_narrows_by_time(demo: Path) -> None:
    result = run(
        "trace", "kids-tablet", "--from", "2025-06-01T00:00:00Z", "--to", "2025-06-02T12:00:00Z", db=demo
    )
    assert result.exit_code == 0
    assert "why: 1 of 1 seats held by studio-pc; see #16, #20" in result.output
    assert "#32" not in result.output and "2025-06-02T19:05:00Z" not in result.output
    entries = json.loads(
        run("trace", "kids-tablet", "--json", "--from", "2025-06-01T00:00:00Z", db=demo).output
    )
    assert [(e["seq"], e["evidence"]) for e in entries] == [(29, [16, 20]), (30, [16, 20]), (32, [20])]
    refused = run(
        "trace", "kids-tablet", "--from", "2025-06-02T00:00:00Z", "--to", "2025-06-01T00:00:00Z", db=demo
    )
    assert refused.exit_code == 2


def test_diff(demo: Path) -> None:
    args = ("diff", "kids-tablet", "--from", "2025-05-01T00:00:00Z", "--to", "2025-06-02T12:00:00Z")
    human = run(*args, db=demo)
    fits(human)
    assert "state  by #29" in human.output and "see #16, #20" in human.output
    found = json.loads(run(*args, "--json", db=demo).output)
    assert set(found) == {"device", "from", "to", "before", "after", "changes", "events"}
    assert {"field": "state", "before": "active", "after": "expired", "seq": 29} in found["changes"]
    assert [e["seq"] for e in found["events"]] == [29, 30]


def test_first_finds_and_never_is_an_answer(demo: Path) -> None:
    human = run("first", "reception-pc", "--state", "blocked", db=demo)
    fits(human)
    assert "reception-pc: first state blocked after #24, 2025-03-12T00:00:00Z." in human.output
    found = json.loads(run("first", "reception-pc", "--state", "blocked", "--json", db=demo).output)
    assert (found["device"], found["seq"], found["at"]) == ("reception-pc", 24, "2025-03-12T00:00:00Z")
    assert found["status"]["state"] == "blocked"
    never = run("first", "kids-tablet", "--state", "blocked", "--json", db=demo)
    assert never.exit_code == 0
    assert json.loads(never.output) == {"device": "kids-tablet", "seq": None, "at": None, "status": None}
    assert (
        "kids-tablet: never state blocked."
        in run("first", "kids-tablet", "--state", "blocked", db=demo).output
    )
    bad = CliRunner().invoke(main, ["first", "kids-tablet", "--state", "asleep", "--db", str(demo)])
    assert bad.exit_code == 2 and "expected one of unlicensed, active, expired, blocked" in bad.output


def test_devices(demo: Path) -> None:
    human = run("devices", "--state", "expired", "--as-of", "2025-06-02T12:00:00Z", db=demo)
    fits(human)
    found = json.loads(run("devices", "--as-of", "2025-06-02T12:00:00Z", "--json", db=demo).output)
    assert found[1] == {"device": "kids-tablet", "state": "expired"}
    assert [d["device"] for d in found] == sorted(d["device"] for d in found)
    page = json.loads(run("devices", "--after", "kids-tablet", "--limit", "1", "--json", db=demo).output)
    assert page == [{"device": "office-desktop", "state": "active"}]


def test_what_if_drop_and_insert(demo: Path, tmp_path: Path) -> None:
    human = run("what-if", "--drop", "16", "--as-of", "2025-06-03T00:00:00Z", db=demo)
    fits(human)
    assert "First divergence: #29." in human.output
    found = json.loads(run("what-if", "--drop", "16", "--json", db=demo).output)
    assert set(found) >= {"first_divergence", "changed_events", "devices"}
    assert found["changed_events"][0] == {
        "seq": 16,
        "type": "CodeEntered",
        "device": "studio-pc",
        "was": {"result": "activated", "reason": None},
        "now": "dropped",
    }
    lines = tmp_path / "remove.jsonl"
    lines.write_text('{"type": "LicenseRemoved", "device": "studio-pc"}\n')
    inserted = json.loads(run("what-if", "--insert-after", "28", str(lines), "--json", db=demo).output)
    assert inserted["first_divergence"] == 29 and inserted["inserted"][0]["at"] == "2025-05-03T09:05:00Z"
    nothing = run("what-if", db=demo)
    assert nothing.exit_code == 0 and "No device's status would differ." in nothing.output


def test_what_if_refuses_an_invalid_change_as_an_append_would(demo: Path, tmp_path: Path) -> None:
    refused = CliRunner().invoke(main, ["what-if", "--drop", "7", "--db", str(demo)])
    assert refused.exit_code == 2
    assert refused.output.startswith("Error: seq 13, CodeEntered, `$.device`: expected a registered device")
    lines = tmp_path / "bad.jsonl"
    lines.write_text('{"type": "CodeEntered", "device": "kids-tablet"}\n')
    bad = CliRunner().invoke(main, ["what-if", "--insert-after", "20", str(lines), "--db", str(demo)])
    assert bad.exit_code == 2 and bad.output.startswith("Error: inserted after seq 20, line 1, CodeEntered")

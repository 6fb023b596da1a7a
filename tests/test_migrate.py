"""Files written by license-ledger 0.1 keep working: migrate, rebuild, and the browsing views.

``tests/fixtures/*-0.1.db`` were written by the 0.1 code (from the
repository's history); ``expected-0.1.json`` holds what 0.1 answered about
them: the chain head, the export, statuses at a few moments and the traces.
Every test works on a copy.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from license_ledger import Ledger, NeedsMigration

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED: dict[str, Any] = json.loads((FIXTURES / "expected-0.1.json").read_text())
FILES = sorted(EXPECTED)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "license_ledger.cli", *args], capture_output=True, text=True, timeout=60
    )


def without_evidence(entries: Any) -> list[dict[str, Any]]:
    """Trace entries as 0.1 answered them: 0.1 had no evidence."""
    found: list[dict[str, Any]] = as_json(entries)
    for entry in found:
        entry.pop("evidence")
    return found


def copy(name: str, tmp_path: Path) -> Path:
    path = tmp_path / name
    shutil.copyfile(FIXTURES / name, path)
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def as_json(value: Any) -> Any:
    return json.loads(msgspec.json.encode(value))


@pytest.mark.parametrize("name", FILES)
def test_read_commands_refuse_an_old_file_in_one_line_and_change_nothing(name: str, tmp_path: Path) -> None:
    path = copy(name, tmp_path)
    before = digest(path)
    for command in (["status", "a"], ["trace", "a"], ["verify"], ["export"], ["replay"]):
        result = cli(*command, "--db", str(path))
        assert result.returncode == 2, command
        assert result.stderr == (
            f"Error: {path}: written by an older license-ledger (store schema 1); "
            f"run `license-ledger migrate --db {path}` first (it keeps every event and the chain head)\n"
        )
        assert result.stdout == ""
    with pytest.raises(NeedsMigration):
        Ledger.open(path, read_only=True)
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


@pytest.mark.parametrize("name", FILES)
def test_migrate_keeps_every_event_status_trace_and_the_chain_head(name: str, tmp_path: Path) -> None:
    path = copy(name, tmp_path)
    expected = EXPECTED[name]
    result = cli("migrate", "--db", str(path))
    assert result.returncode == 0, result.stderr
    events = len(expected["export"])
    assert result.stdout == (
        f"Migrated {path} from store schema 1 to 2: {events} events kept, projection derived anew.\n"
        f"Chain head: {expected['head_seq']}:{expected['head_hash']}\n"
    )
    with Ledger.open(path, read_only=True) as ledger:
        report = ledger.verify(expect_head=(expected["head_seq"], expected["head_hash"]))
        assert report.ok and report.head_hash == expected["head_hash"]
        assert list(ledger.export()) == expected["export"]
        for key, status in expected["status"].items():
            device, moment = key.split("@")
            assert as_json(ledger.status(device, moment)) == status, key
        for device, trace in expected["trace"].items():
            assert without_evidence(ledger.trace(device)) == trace, device
    tables = {
        row[0] for row in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    assert tables == {"events", "event_results", "ledger_meta", "schema_version", "snapshots", "status_after"}
    again = cli("migrate", "--db", str(path))
    assert (again.returncode, again.stdout) == (0, f"{path}: already at store schema 2; nothing to do.\n")


def test_opening_an_old_file_for_writing_migrates_it_and_its_keys_stay(tmp_path: Path) -> None:
    path = copy("keys-0.1.db", tmp_path)
    with Ledger.open(path) as ledger:
        assert ledger.migrated is not None and ledger.migrated.from_version == 1
        # The key stored by 0.1 still names its event: the same content is answered, not stored.
        [repeat] = ledger.append(
            [
                {
                    "type": "DeviceRegistered",
                    "at": "2026-01-01T00:00:00Z",
                    "device": "a",
                    "app_version": "1.0",
                    "id": "reg-a",
                }
            ]
        )
        assert (repeat.seq, repeat.stored) == (2, False)
        # Keys are scoped per device now: another device may use the same key.
        [other] = ledger.append([{"type": "TryAgainClicked", "device": "b", "id": "enter-1"}])
        assert (other.stored, other.result) == (True, "ignored")
        assert ledger.verify().ok


def test_rebuild_derives_a_damaged_projection_anew_and_keeps_the_head(tmp_path: Path) -> None:
    path = copy("demo-0.1.db", tmp_path)
    assert cli("migrate", "--db", str(path)).returncode == 0
    head = EXPECTED["demo-0.1.db"]["head_hash"]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE event_results SET result = 'activated', reason = NULL WHERE seq = 20")
    conn.execute("DELETE FROM status_after WHERE seq > 30")
    conn.close()
    damaged = cli("verify", "--db", str(path))
    assert damaged.returncode == 1 and "differs from replay" in damaged.stderr
    rebuilt = cli("rebuild", "--db", str(path))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout == "Rebuilt the projection of 38 events from the log.\n"
    verified = cli("verify", "--db", str(path))
    assert verified.returncode == 0 and f"Chain head: 38:{head}" in verified.stdout
    with Ledger.open(path, read_only=True) as ledger:
        for device, trace in EXPECTED["demo-0.1.db"]["trace"].items():
            assert without_evidence(ledger.trace(device)) == trace


def test_the_views_show_the_ledger_to_a_person_browsing_the_file(tmp_path: Path) -> None:
    path = copy("keys-0.1.db", tmp_path)
    Ledger.open(path).close()
    conn = sqlite3.connect(path)
    current = conn.execute("SELECT device, since_seq, state FROM current_status ORDER BY device").fetchall()
    assert current == [("a", 6, "expired"), ("b", 5, "unlicensed")]
    listed = conn.execute("SELECT seq, type, device, result, reason FROM event_list ORDER BY seq").fetchall()
    assert listed == [
        (1, "CodeIssued", None, "recorded", None),
        (2, "DeviceRegistered", "a", "recorded", None),
        (3, "DeviceRegistered", "b", "recorded", None),
        (4, "CodeEntered", "a", "activated", None),
        (5, "CodeEntered", "b", "rejected", "device_limit_reached"),
        (6, "LicenseExpired", "a", "expired", None),
    ]

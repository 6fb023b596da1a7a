"""``license-ledger demo``: it tells its story in 80 columns, and writes only a file of its own."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from license_ledger import Ledger
from license_ledger.cli import demo

EVENT = (
    '{"type": "DeviceRegistered", "at": "2026-01-06T09:00:00Z", "device": "laptop", "app_version": "22.1"}\n'
)


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "license_ledger.cli", *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80", **(env or {})},
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def told(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("demo")
    result = cli("demo", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder, result.stdout


def test_the_story_fits_80_columns(told: tuple[Path, str]) -> None:
    _, out = told
    too_long = [line for line in out.splitlines() if len(line) > 80]
    assert too_long == []


def test_the_story_is_told_chapter_by_chapter_with_device_and_code(told: tuple[Path, str]) -> None:
    _, out = told
    for number, chapter in enumerate(demo.CHAPTERS, start=1):
        first_words = " ".join(chapter.text.split()[:6])
        assert f"{number}. {first_words}" in out
    assert "seq  at (UTC)          device          event               code   result" in out
    # Whose entry was activated, and with which code: one line each.
    assert " 15  2025-02-01 18:05  kids-tablet     CodeEntered         1TABL  activated" in out
    assert " 29  2025-06-02 00:00  kids-tablet     LicenseExpired             renewal_failed" in out
    assert "     why: device_limit_reached; 1 of 1 seats held by studio-pc" in out
    assert "     why: incompatible_version; app 21.4 not in >=23.0" in out
    assert "reception-pc at 2025-03-12T08:00:00Z: blocked" in out
    assert "actions: activate_now," in out
    assert "OK: 38 events" in out


def test_it_ends_with_the_commands_to_try_next_and_they_run(told: tuple[Path, str]) -> None:
    folder, out = told
    tail = out[out.index("Try next:") :]
    commands = [line.strip() for line in tail.splitlines() if line.startswith("    license-ledger ")]
    assert [c.split()[1] for c in commands] == ["trace", "status", "serve"]
    for command in commands[:2]:
        result = cli(*command.split()[1:], cwd=folder)
        assert result.returncode == 0, result.stderr
    status = cli(*commands[1].split()[1:], cwd=folder).stdout
    assert "blocked" in status and "activate_now, remove_license" in status


def test_a_second_run_replaces_its_own_file(tmp_path: Path) -> None:
    assert cli("demo", cwd=tmp_path).returncode == 0
    with Ledger.open(tmp_path / "demo.db") as ledger:  # the user plays with the demo ledger
        ledger.append([{"type": "TryAgainClicked", "device": "kids-tablet"}])
    again = cli("demo", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "OK: 38 events" in again.stdout


def test_it_refuses_a_ledger_it_did_not_write(tmp_path: Path) -> None:
    precious = tmp_path / "precious.db"
    assert cli("append", "-", "--db", str(precious), cwd=tmp_path, input=EVENT).returncode == 0
    before = digest(precious)
    result = cli("demo", "--db", str(precious), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: {precious}: the demo writes only a new file or one an earlier demo wrote, "
        "and will not replace this one; pass another --db (a ledger of 1 event that the demo did not write)\n"
    )
    assert digest(precious) == before


@pytest.mark.parametrize("content", [b"", b"not a ledger", b"SQLite format 3\x00" + bytes(100)])
def test_it_refuses_any_other_file(tmp_path: Path, content: bytes) -> None:
    other = tmp_path / "demo.db"
    other.write_bytes(content)
    result = cli("demo", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"Error: {other.name}: the demo writes only a new file")
    assert "not a license-ledger file" in result.stderr and len(result.stderr.splitlines()) == 1
    assert other.read_bytes() == content


def test_it_ignores_license_ledger_db(tmp_path: Path) -> None:
    precious = tmp_path / "precious.db"
    assert cli("append", "-", "--db", str(precious), cwd=tmp_path, input=EVENT).returncode == 0
    before = digest(precious)
    result = cli("demo", cwd=tmp_path, env={"LICENSE_LEDGER_DB": str(precious)})
    assert result.returncode == 0, result.stderr
    assert digest(precious) == before
    assert (tmp_path / "demo.db").exists()


def test_the_mark_is_outside_the_chain(told: tuple[Path, str], tmp_path: Path) -> None:
    folder, _ = told
    with sqlite3.connect(folder / "demo.db") as conn:
        meta = dict(conn.execute("SELECT key, value FROM ledger_meta").fetchall())
    assert meta["demo"] == "written by `license-ledger demo`"
    with Ledger.open(folder / "demo.db", read_only=True) as ledger:
        exported, head = list(ledger.export()), ledger.verify().head_hash
    with Ledger.open(tmp_path / "copy.db") as copy:
        copy.append_lines(exported)
        assert copy.verify().head_hash == head

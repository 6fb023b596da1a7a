"""Files that are not what a command expects, through the command line in a subprocess.

Read commands never write (not a byte, not a ``-wal`` beside an auditor's
copy); a damaged, foreign, empty or read-only file is one line naming the
file and what is wrong; ``verify`` calls a damaged file damaged (exit 1);
a refused append to a new path leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from license_ledger import Ledger
from stores import CODE_A, at, entered, issued, registered

READS = [["status", "d1"], ["trace", "d1"], ["verify"], ["export"], ["replay"]]
WRITES = [["append", "-"], ["tick", "--now", "2030-01-01T00:00:00Z"], ["rebuild"]]


def cli(
    *args: str, db: Path, stdin: str = "", prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "license_ledger.cli", *args, "--db", str(db)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line_error(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def files(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def make_ledger(path: Path, events: int = 3) -> None:
    with Ledger.open(path) as ledger:
        ledger.append([issued(CODE_A, at=at(0)), registered("d1", at=at(0)), entered("d1", CODE_A, at=at(1))])
        ledger.append([registered(f"x{i}", at=at(2)) for i in range(events)])


@pytest.mark.parametrize("command", READS, ids=lambda c: c[0])
def test_read_commands_leave_an_auditors_copy_exactly_as_it_was(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "copy.db"
    make_ledger(path)
    before = files(tmp_path)
    assert list(before) == ["copy.db"]  # closed: no -wal, no -shm
    result = cli(*command, db=path)
    assert result.returncode == 0, result.stderr
    assert files(tmp_path) == before


@pytest.mark.parametrize("command", READS, ids=lambda c: c[0])
def test_an_empty_or_missing_file_is_not_a_ledger_for_read_commands(
    tmp_path: Path, command: list[str]
) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    assert one_line_error(cli(*command, db=empty)) == (
        f"Error: {empty}: an empty file, not a license-ledger file\n"
    )
    missing = tmp_path / "missing.db"
    assert one_line_error(cli(*command, db=missing)) == (
        f"Error: {missing}: no such file (nothing to open; `append` creates one)\n"
    )
    assert files(tmp_path) == {"empty.db": hashlib.sha256(b"").hexdigest()}


def test_a_refused_append_to_a_new_path_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    ghost = json.dumps({"type": "TryAgainClicked", "device": "ghost", "at": "2026-01-01T00:00:00Z"})
    one_line_error(cli("append", "-", db=path, stdin=ghost + "\n"))
    one_line_error(cli("append", "-", db=path, stdin="not json\n"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", READS + WRITES, ids=lambda c: c[0])
def test_a_file_that_is_not_sqlite_is_one_line(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "photo.db"
    path.write_bytes(os.urandom(8192))
    before = files(tmp_path)
    assert one_line_error(cli(*command, db=path)) == (
        f"Error: {path}: not a license-ledger file (file is not a database)\n"
    )
    assert files(tmp_path) == before


def damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    page = 4096
    if how == "a corrupt page":
        # Garbage over every page but the first (the header): the tables' b-trees are gone.
        for start in range(page, len(data), page):
            data[start : start + page] = os.urandom(min(page, len(data) - start))
    else:  # truncated
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))


@pytest.fixture
def big(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "big.db"
    make_ledger(path, events=400)
    yield path


@pytest.mark.parametrize("how", ["a corrupt page", "truncated"])
def test_a_damaged_file_is_one_line_from_every_command_and_verify_calls_it_damaged(
    big: Path, how: str
) -> None:
    damage(big, how)
    for command in READS + WRITES:
        result = cli(*command, db=big)
        expected_exit = 1 if command == ["verify"] else 2
        message = one_line_error(result, expected_exit)
        assert str(big) in message
        if command == ["verify"]:
            assert message.startswith(f"Error: Damaged: {big}: ")


def without_root_powers() -> tuple[str, ...]:
    """A prefix under which root, too, obeys file permissions (CI runs as root)."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    assert setpriv is not None, "setpriv (util-linux) is needed to test permissions as root"
    return (setpriv, "--bounding-set=-dac_override,-dac_read_search", "--")


def test_a_read_only_file_or_folder_is_refused_for_writing_commands() -> None:
    folder = Path(tempfile.mkdtemp())
    try:
        path = folder / "ledger.db"
        make_ledger(path)
        path.chmod(0o444)
        line = '{"type": "TryAgainClicked", "device": "d1", "at": "2026-01-01T00:00:00Z"}\n'
        for command in WRITES:
            message = one_line_error(cli(*command, db=path, stdin=line, prefix=without_root_powers()))
            assert message.startswith(f"Error: {path}: cannot write here"), message
        folder.chmod(0o555)
        elsewhere = folder / "new.db"
        message = one_line_error(cli("append", "-", db=elsewhere, stdin=line, prefix=without_root_powers()))
        assert message.startswith(f"Error: {elsewhere}: cannot write here"), message
        # Reading still works.
        assert cli("status", "d1", db=path, prefix=without_root_powers()).returncode == 0
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)

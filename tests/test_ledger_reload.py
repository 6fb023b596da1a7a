"""A ledger kept open while its file is restored from an older backup."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from license_ledger import Ledger


def register(device: str, day: int) -> dict[str, str]:
    return {
        "type": "DeviceRegistered",
        "at": f"2026-01-0{day}T00:00:00Z",
        "device": device,
        "app_version": "1.0",
    }


def test_an_open_ledger_notices_its_file_was_restored_to_a_shorter_log(tmp_path: Path) -> None:
    path, backup = tmp_path / "ledger.db", tmp_path / "backup.db"
    with Ledger.open(path) as ledger:
        ledger.append([register("a", 1)])
    with sqlite3.connect(path) as source, sqlite3.connect(backup) as target:
        source.backup(target)
    ledger = Ledger.open(path)
    ledger.append([register("b", 2), register("c", 3)])
    # Restore the backup in place, through SQLite, while the ledger stays open.
    with sqlite3.connect(backup) as source, sqlite3.connect(path) as target:
        source.backup(target)
    [appended] = ledger.append([register("b", 4)])
    assert appended.seq == 2  # not 4: the world was rebuilt from the restored log
    assert [e.device for e in ledger.events()] == ["a", "b"]
    assert ledger.verify().ok
    ledger.close()

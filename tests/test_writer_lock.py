"""The queue in front of an SQLite file's write lock (``store/writer_lock.py``)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from license_ledger.ledger import Ledger
from license_ledger.store.writer_lock import WriterLock
from stores import registered


def test_a_waiting_writer_goes_in_when_the_holder_lets_go(tmp_path: Path) -> None:
    first, second = WriterLock(tmp_path / "l.db", timeout=30), WriterLock(tmp_path / "l.db", timeout=30)
    order: list[str] = []

    def wait() -> None:
        with second.held():
            order.append("second in")

    with first.held():
        waiter = threading.Thread(target=wait)
        waiter.start()
        waiter.join(0.2)
        order.append("first out")
    waiter.join()
    assert order == ["first out", "second in"]
    first.close()
    second.close()


def test_a_writer_that_waits_too_long_fails_as_sqlite_would_and_the_next_try_works(tmp_path: Path) -> None:
    holder = os.open(tmp_path / "l.db-lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    lock = WriterLock(tmp_path / "l.db", timeout=0.2)
    with pytest.raises(sqlite3.OperationalError, match="database is locked"), lock.held():
        pass
    fcntl.flock(holder, fcntl.LOCK_UN)
    with lock.held():  # a fresh descriptor: the given-up wait cannot take this one's lock away
        pass
    lock.close()
    os.close(holder)


def test_the_last_ledger_to_close_removes_the_lock_file(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    with Ledger.open(path) as one, Ledger.open(path) as two:
        one.append([registered("a")])
        two.append([registered("b")])
        assert (tmp_path / "l.db-lock").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.db"]

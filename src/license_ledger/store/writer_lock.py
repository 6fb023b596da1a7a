"""The queue in front of an SQLite file's write lock, for processes that write to one file.

SQLite lets one writer in at a time (``BEGIN IMMEDIATE``); the others retry
after sleeping 1, 2, 5, 10, ... 100 ms (its busy handler), so a writer that
waits for another's commit of a millisecond often sleeps for several, and
appends from several processes (``serve --workers``) spend their time
asleep. So before ``BEGIN IMMEDIATE`` a writer takes an ``flock`` on a file
beside the ledger (``<file>-lock``, empty): the kernel wakes a waiting
writer the moment the holder lets go. SQLite's own lock still decides (a
process that does not know this file, the ``sqlite3`` shell, is serialised
by it as before); this only makes the wait short.

A writer waits for the lock at most ``timeout`` seconds (the busy timeout),
then fails as SQLite would (``database is locked``). Where the file cannot be
made (a read-only folder) writers go without it. The last connection to
close removes it, as SQLite removes its ``-wal`` and ``-shm`` files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["WriterLock"]


class WriterLock:
    """An ``flock`` on ``<path>-lock`` held around each write transaction of one connection."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = Path(f"{path}-lock")
        self.timeout = timeout
        self._fd: int | None = None
        self._tried = False

    def _descriptor(self) -> int | None:
        if not self._tried:
            self._tried = True
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                self._fd = None  # a read-only folder: SQLite's lock alone
        return self._fd

    @contextmanager
    def held(self) -> Iterator[None]:
        fd = self._descriptor()
        if fd is None:
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not _wait_for(fd, self.timeout):
                # The helper still waits on this descriptor and closes it when it gets the lock:
                # the next transaction opens a fresh one (never two waits on one descriptor).
                self._fd, self._tried = None, False
                raise sqlite3.OperationalError(
                    f"database is locked (waited {self.timeout:g} s for the other writers)"
                ) from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self, last: bool = False) -> None:
        """Let the file go; ``last``: no other connection has the ledger open (remove the file too).

        Removing it can only cost speed, never correctness: a process that still
        holds the removed file queues apart from those that make a new one,
        and SQLite's own lock serialises them all.
        """
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            if last:
                with contextlib.suppress(OSError):
                    self.path.unlink()


def _wait_for(fd: int, timeout: float) -> bool:
    """Block until the lock is ours (True), in a helper thread given up on after ``timeout`` (False).

    Given up, the helper owns ``fd``: it lets the lock go and closes ``fd`` once it gets it.
    """
    state = {"given_up": False, "held": False}
    guard = threading.Lock()

    def take() -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with guard:
            state["held"] = not state["given_up"]
        if not state["held"]:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    helper = threading.Thread(target=take, name="ledger-writer-lock", daemon=True)
    helper.start()
    helper.join(timeout)
    with guard:
        state["given_up"] = not state["held"]
    return state["held"]

"""Where the inspector's pages read from: the service's ledger, or a file opened read-only.

In the service the pages read through the running service (its ledger, its
lock, its verify). ``license-ledger inspect`` has no service: a
:class:`ReadOnlySource` opens the file with ``Ledger.open(path,
read_only=True)``, which never writes (no ``-wal`` or ``-shm`` appear beside
a closed file), and opens it again when a writer changed it meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

import anyio.to_thread

from ...errors import LedgerError
from ...ledger import Ledger
from ...store.audit import VerifyReport
from ..edge import Busy
from ..runtime import VERIFY_RETRY_AFTER
from ..tokens import TokenFile

__all__ = ["ReadOnlySource", "Source"]

_T = TypeVar("_T")


class Source(Protocol):
    """What the pages need: the ledger, calls on it one at a time, a verify, the tokens."""

    tokens: TokenFile | None

    @property
    def ledger(self) -> Ledger: ...

    async def call(self, fn: Callable[..., _T], *args: object) -> _T: ...

    async def verify(self) -> VerifyReport: ...


class ReadOnlySource:
    """A ledger (a file or a ``postgresql://`` URL) opened read-only for ``license-ledger inspect``."""

    def __init__(self, path: str | Path, tokens: TokenFile | None) -> None:
        self.path = path
        self.tokens = tokens
        self._ledger: Ledger | None = None
        self._lock: asyncio.Lock | None = None
        self._verifying = False

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            raise RuntimeError("the inspector is not started (the ledger opens at startup)")
        return self._ledger

    async def open(self) -> None:
        self._lock = asyncio.Lock()
        self._ledger = await anyio.to_thread.run_sync(self._open)

    def _open(self) -> Ledger:
        return Ledger.open(self.path, read_only=True)

    async def close(self) -> None:
        if self._ledger is not None and self._lock is not None:
            async with self._lock:
                await anyio.to_thread.run_sync(self._ledger.close)
            self._ledger = None

    async def call(self, fn: Callable[..., _T], *args: object) -> _T:
        """Run ``fn(*args)`` in a worker thread, one at a time, on a file that is still the one opened."""
        if self._lock is None:
            raise RuntimeError("the inspector is not started (the ledger opens at startup)")
        async with self._lock:
            return await anyio.to_thread.run_sync(self._fresh_call, fn, args)

    def _fresh_call(self, fn: Callable[..., _T], args: tuple[object, ...]) -> _T:
        # A file nobody had open is read as immutable; once a writer touches it,
        # those reads could be stale: open it again (read-only) and read on.
        check = getattr(self.ledger.backend, "check_unchanged", None)
        if check is not None:
            try:
                check()
            except LedgerError:
                self.ledger.close()
                self._ledger = self._open()
        return fn(*args)

    async def verify(self) -> VerifyReport:
        """Verify on a read-only connection of its own, beside the page reads; one at a time."""
        if self._verifying:
            raise Busy(
                "expected one verify at a time, found one already running; ask again later",
                VERIFY_RETRY_AFTER,
            )
        self._verifying = True
        try:
            return await anyio.to_thread.run_sync(_verify_file, self.path)
        finally:
            self._verifying = False


def _verify_file(path: str | Path) -> VerifyReport:
    with Ledger.open(path, read_only=True) as ledger:
        return ledger.verify()

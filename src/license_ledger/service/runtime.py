"""What one running service holds: the ledgers, the group committer, the tokens, the limits, the ticker.

Writes go through one writing :class:`Ledger` (the group committer, and the
tick, one at a time under a lock); reads (status, trace, the feed) through
read-only ledgers of their own, so that they never wait for a write in
progress: WAL (SQLite) and MVCC (PostgreSQL) let them read the last commit
meanwhile, and a read sees every append answered before it began.
"""

import asyncio
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread

from ..engine.events import EVENT_TYPES
from ..engine.forensics.views import WhatIf
from ..engine.views import Appended
from ..errors import LedgerError
from ..ledger import Ledger
from ..store.audit import VerifyReport
from ..store.sqlite import SQLiteBackend
from .committer import GroupCommitter
from .edge import (
    SERVICE_LOG,
    Busy,
    Unauthenticated,
)
from .tokens import (
    Principal,
    TokenFile,
)

__all__ = ["DEFAULT_MAX_BATCH", "DEFAULT_MAX_BODY", "DEFAULT_MAX_CLOCK_SKEW", "VERIFY_RETRY_AFTER"]

DEFAULT_MAX_BODY = 1_048_576
DEFAULT_MAX_BATCH = 1000
#: How far ahead of the service's clock (seconds) an ``at`` or a tick's ``now`` may be.
DEFAULT_MAX_CLOCK_SKEW = 300.0
#: What a second ``GET /verify`` while one runs is told to wait (seconds).
VERIFY_RETRY_AFTER = 1
#: Reads that run in worker threads at once, each on a read-only ledger of its own.
READ_THREADS = 4

_EVENT_NAMES = frozenset(t.__name__ for t in EVENT_TYPES)
_T = TypeVar("_T")


class _Service:
    """What one app holds: the ledger, its lock, the tokens and the limits."""

    def __init__(
        self,
        ledger_path: str | Path,
        tokens: TokenFile | None,
        tick_every: float,
        max_batch: int,
        max_clock_skew: float,
    ) -> None:
        self.ledger_path = ledger_path
        self.tokens = tokens
        self.tick_every = tick_every
        self.max_batch = max_batch
        self.max_clock_skew = max_clock_skew
        self._ledger: Ledger | None = None
        self._lock: asyncio.Lock | None = None
        self._verifying = False
        self._investigating = False
        self._committer: GroupCommitter | None = None
        #: Read-only ledgers not in use; one is opened when none is left.
        self._readers: list[Ledger] = []
        self._read_threads = anyio.CapacityLimiter(READ_THREADS)
        #: On SQLite a status is one indexed read of a local file: read at once, on the event loop.
        self._read_inline = False

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            raise RuntimeError("the service is not started (the ledger opens at startup)")
        return self._ledger

    async def call(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run a ledger call in a worker thread, one at a time in this process."""
        if self._lock is None:
            raise RuntimeError("the service is not started (the ledger opens at startup)")
        async with self._lock:
            # anyio waits for the thread even when the request is cancelled (a client
            # hangs up), so the lock is never released while SQLite is still busy;
            # asyncio.to_thread would return at once and let the next call in.
            return await anyio.to_thread.run_sync(partial(fn, *args))

    async def append(self, events: list[Any]) -> list[Appended]:
        """Append a batch in the next group commit; answered once it is on disk."""
        if self._committer is None:
            raise RuntimeError("the service is not started (the ledger opens at startup)")
        return await self._committer.append(events)

    def _reader(self) -> Ledger:
        return self._readers.pop() if self._readers else Ledger.open(self.ledger_path, read_only=True)

    def _read(self, method: Callable[..., _T], *args: Any) -> _T:
        reader = self._reader()
        try:
            return method(reader, *args)
        finally:
            self._readers.append(reader)

    async def read(self, method: Callable[..., _T], *args: Any, small: bool = False) -> _T:
        """Call a read method (``Ledger.status``, ``.trace``, ``.events``) on a read-only ledger, beside the writes.

        ``small``: a read of one row that may run on the event loop itself
        when the store is a local file (no thread to hand over to).
        """
        if small and self._read_inline:
            return self._read(method, *args)
        return await anyio.to_thread.run_sync(partial(self._read, method, *args), limiter=self._read_threads)

    async def verify(self) -> VerifyReport:
        """Replay the whole log on a connection of its own, outside the lock; one at a time.

        A full replay takes a while on a big log: it must not hold up the
        appends and reads, which go on meanwhile. A second verify while one
        runs is refused (429) rather than queued.
        """
        if self._verifying:
            raise Busy(
                "expected one verify at a time, found one already running; ask again later",
                VERIFY_RETRY_AFTER,
            )
        self._verifying = True
        try:
            return await anyio.to_thread.run_sync(_verify_file, self.ledger_path)
        finally:
            self._verifying = False

    async def what_if(self, drop: list[int], insert: list[tuple[int, list[Any]]], as_of: Any) -> WhatIf:
        """A what-if on a read-only connection of its own, outside the lock; one at a time.

        A change near the start of a long log replays all of it: appends and
        reads go on meanwhile, and a second what-if is refused (429).
        """
        if self._investigating:
            raise Busy(
                "expected one what-if at a time, found one already running; ask again later",
                VERIFY_RETRY_AFTER,
            )
        self._investigating = True
        try:
            return await anyio.to_thread.run_sync(
                partial(_what_if_file, self.ledger_path, drop, insert, as_of)
            )
        finally:
            self._investigating = False

    def authenticate(self, header: str | None) -> Principal:
        if self.tokens is None:
            return Principal("admin")
        scheme, _, token = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            found = "no Authorization header" if not header else "another kind of Authorization header"
            raise Unauthenticated(f"expected an `Authorization: Bearer <token>` header, found {found}")
        principal = self.tokens.lookup(token.strip())
        if principal is None:
            raise Unauthenticated("expected a token this service knows, found an unknown token")
        return principal

    async def open(self) -> None:
        self._lock = asyncio.Lock()  # made in the loop that serves
        self._ledger = await anyio.to_thread.run_sync(partial(Ledger.open, self.ledger_path, create=True))
        self._committer = GroupCommitter(lambda: self.ledger, self._lock)
        # Opened after the writer: an SQLite file in use (its -wal beside it) is read live.
        reader = await anyio.to_thread.run_sync(partial(Ledger.open, self.ledger_path, read_only=True))
        self._readers.append(reader)
        self._read_inline = isinstance(reader.backend, SQLiteBackend)

    async def close(self) -> None:
        if self._committer is not None:
            await self._committer.close()
            if self._committer.groups:
                SERVICE_LOG.info(
                    "group commit: %d appends in %d transactions",
                    self._committer.batches,
                    self._committer.groups,
                )
        if self._ledger is not None and self._lock is not None:
            async with self._lock:
                await anyio.to_thread.run_sync(self._ledger.close)
            self._ledger = None
        readers, self._readers = self._readers, []
        for reader in readers:
            reader.close()

    async def tick_forever(self) -> None:
        """Append the due expiries every ``tick_every`` seconds, until cancelled."""
        while True:
            await asyncio.sleep(self.tick_every)
            try:
                appended = await self.call(self.ledger.tick)
            except LedgerError as exc:
                SERVICE_LOG.error("tick refused: %s", exc)
            except Exception:
                SERVICE_LOG.exception("tick failed")
            else:
                if appended:
                    SERVICE_LOG.info("tick appended %d LicenseExpired event(s)", len(appended))


def _what_if_file(
    path: str | Path, drop: list[int], insert: list[tuple[int, list[Any]]], as_of: Any
) -> WhatIf:
    with Ledger.open(path, read_only=True) as ledger:
        return ledger.what_if(drop=drop, insert=insert, as_of=as_of)


def _verify_file(path: str | Path) -> VerifyReport:
    """Verify the ledger file on a read-only connection of its own (one read transaction inside)."""
    with Ledger.open(path, read_only=True) as ledger:
        return ledger.verify()

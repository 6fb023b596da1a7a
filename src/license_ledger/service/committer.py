"""Group commit in the service: appends that arrive while a group is written go in the next one.

Each request hands its batch to :meth:`GroupCommitter.append` and waits. One
task writes: it calls :meth:`~license_ledger.ledger.Ledger.append_many` in a
worker thread (one transaction, one wait for the disk) with a generator of
the batches waiting, which the ledger reads once it holds the store's writer
lock: the group takes every batch that arrived until then (up to a bound),
also those that came while another process held the lock. Each request is
answered with its own results or its own refusal, and the task starts again
while batches are waiting. No timer: a request that finds nothing being
written is written at once, and the ones that arrive meanwhile make the next
group. A request is answered only after its group committed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import anyio.to_thread

from ..engine.views import Appended
from ..errors import InputRefused
from ..ledger import Ledger

__all__ = ["MAX_GROUP_EVENTS", "GroupCommitter"]

#: A group takes waiting batches until it holds this many events (a batch is never split).
MAX_GROUP_EVENTS = 2000

_Waiting = tuple[list[Any], "asyncio.Future[list[Appended] | InputRefused]"]


class GroupCommitter:
    """Writes the batches of concurrent requests together, one group at a time, under ``lock``."""

    def __init__(self, ledger: Callable[[], Ledger], lock: asyncio.Lock) -> None:
        self._ledger = ledger
        self._lock = lock
        #: Appended to by the event loop, taken from by the writing thread (a deque: both are atomic).
        self._waiting: deque[_Waiting] = deque()
        self._writer: asyncio.Task[None] | None = None
        #: How many groups and batches were written (a batch per group means no grouping).
        self.groups = 0
        self.batches = 0

    async def append(self, events: list[Any]) -> list[Appended]:
        """Append ``events`` all or nothing, in the next group; raise its refusal as ``append`` would."""
        answer: asyncio.Future[list[Appended] | InputRefused] = asyncio.get_running_loop().create_future()
        self._waiting.append((events, answer))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_while_waiting())
        # A request cancelled meanwhile (its client hung up) leaves its batch in the group:
        # it is written, just not answered. shield() keeps the answer settable.
        result = await asyncio.shield(answer)
        if isinstance(result, InputRefused):
            raise result
        return result

    async def _write_while_waiting(self) -> None:
        group: list[_Waiting] = []
        try:
            while self._waiting:
                group = []
                try:
                    async with self._lock:
                        # anyio waits for the thread even if this task is cancelled: the lock
                        # is never released while the store is still writing.
                        answers = await anyio.to_thread.run_sync(
                            partial(self._ledger().append_many, self._take(group))
                        )
                except Exception as exc:  # the store failed: the whole group stored nothing
                    if not group:
                        # Failed before a batch was taken (the lock, the head): fail those
                        # waiting now, rather than trying again and again for them.
                        group = list(self._waiting)
                        self._waiting.clear()
                    _settle(group, exc)
                    continue
                self.groups += 1
                self.batches += len(group)
                for (_, answer), result in zip(group, answers, strict=True):
                    if not answer.done():
                        answer.set_result(result)
        except BaseException as exc:  # cancelled: nobody may wait forever
            _settle(group + list(self._waiting), exc)
            self._waiting.clear()
            raise
        finally:
            self._writer = None

    def _take(self, group: list[_Waiting]) -> Iterator[list[Any]]:
        """The batches waiting when the ledger reads them (under the writer lock), up to the bound.

        Runs in the writing thread; ``group`` collects what was taken, for the answers.
        """
        events = 0
        waiting = self._waiting
        while waiting:
            batch = waiting[0][0]
            if group and events + len(batch) > MAX_GROUP_EVENTS:
                return
            group.append(waiting.popleft())
            events += len(batch)
            yield batch

    async def close(self) -> None:
        """Wait until every batch handed over is written and answered."""
        while self._writer is not None:
            await asyncio.shield(self._writer)


def _settle(waiting: list[_Waiting], exc: BaseException) -> None:
    for _, answer in waiting:
        if answer.done():
            continue
        if isinstance(exc, Exception):
            answer.set_exception(exc)
        else:
            answer.cancel()

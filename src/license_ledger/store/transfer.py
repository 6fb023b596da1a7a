"""Moving a log between stores (SQLite to PostgreSQL and back) without changing a byte of it.

The facts are copied as they are: seq, time, payload and chain hash, so the
copy's chain head is the original's. The projection is not copied: the
target derives it anew (``audit.rebuild``), in the same transaction as the
facts, so that the copy never shows facts without their results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import islice

from ..errors import LedgerError
from . import audit
from .protocol import Backend

__all__ = ["copy_log"]

_CHUNK = 10_000


class TargetNotEmpty(LedgerError):
    """The target of a copy already holds events."""


@contextmanager
def _translated(backend: Backend) -> Iterator[None]:
    try:
        yield
    except backend.errors as exc:
        raise backend.translate(exc) from None


def copy_log(source: Backend, target: Backend, progress: Callable[[int], None] | None = None) -> int:
    """Copy every fact of ``source`` into the empty ``target`` and derive its projection; return the count.

    One write transaction on the target (holding its writer lock), inside
    one read transaction on the source (one consistent state of it).
    """
    with _translated(target), target.write_transaction():
        found, _ = target.head()
        if found:
            raise TargetNotEmpty(
                f"{_name(target)}: holds {found} events already; copy writes only into an empty store"
            )
        with _translated(source), source.read_transaction():
            rows = source.events()
            copied = 0
            while True:
                with _translated(source):
                    chunk = list(islice(rows, _CHUNK))
                if not chunk:
                    break
                with _translated(target):
                    target.insert(chunk, [], [])
                copied += len(chunk)
                if progress is not None:
                    progress(len(chunk))
            with _translated(source):
                head = source.head()
        audit.rebuild(target)
        if target.head() != head:
            raise LedgerError(f"{_name(target)}: the copy ends at {target.head()}, the source at {head}")
    return copied


def _name(backend: Backend) -> str:
    name = getattr(backend, "location", None) or getattr(backend, "path", None)
    return str(name) if name is not None else "the target"

"""Finding a moment in the log: the last seq whose time is at or before it.

Times never go back along the log (the world refuses it), so a binary
search by seq, each step one primary-key read, finds it without an index on
``at``. Every backend passes its own read of one event's time.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["last_seq_at"]


def last_seq_at(head: int, time_of: Callable[[int], str | None], at_most: str) -> int:
    """The last seq (0: none) among 1..``head`` whose time, ``time_of(seq)``, is at or before ``at_most``."""
    low, high = 0, head
    while low < high:
        middle = (low + high + 1) // 2
        at = time_of(middle)
        if at is not None and at <= at_most:
            low = middle
        else:
            high = middle - 1
    return low

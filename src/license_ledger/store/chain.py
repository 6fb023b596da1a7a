"""The hash chain that makes the log tamper-evident.

Each row's hash covers the previous row's hash, its own seq and its
canonical payload. Altering, removing or reordering any row changes every
hash after it; ``verify`` recomputes them and names the first that differs.
A truncated tail leaves a valid chain, which is why ``verify`` prints the
head: note it down, and compare later with ``--expect-head``.
"""

from __future__ import annotations

import hashlib

__all__ = ["GENESIS", "link"]

#: The "previous hash" of the first row.
GENESIS = "0" * 64


def link(previous: str, seq: int, payload: str) -> str:
    """The hash of row ``seq`` given the hash of the row before it."""
    return hashlib.sha256(f"{previous}|{seq}|{payload}".encode()).hexdigest()

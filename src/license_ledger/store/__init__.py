"""The store: where the log and its projection live, and what checks them.

Layer: above the engine. ``protocol`` is the interface every backend
implements, ``sqlite`` (with ``sqlite_schema``) the embedded backend,
``sqlite_forensics`` its forensic reads, ``chain`` the hash chain, ``projection`` the one derivation of results and
statuses from the facts, ``audit`` verify, replay and rebuild. May import the
engine and the errors; nothing here knows the ledger, the service or the
command line.
"""

from .protocol import Backend, FeedRow, ResultRow, Snapshot, StatusRow, StoredEvent, TraceRow
from .sqlite import SQLiteBackend

__all__ = [
    "Backend",
    "FeedRow",
    "ResultRow",
    "SQLiteBackend",
    "Snapshot",
    "StatusRow",
    "StoredEvent",
    "TraceRow",
]

"""Where the log lives: a small backend interface and its implementations."""

from .protocol import Backend, Effect, StoredEvent
from .sqlite import SQLiteBackend

__all__ = ["Backend", "Effect", "SQLiteBackend", "StoredEvent"]

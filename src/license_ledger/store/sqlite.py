"""The embedded default: one SQLite file.

Guarantees come from the schema, not from Python (``sqlite_schema``):
triggers refuse UPDATE and DELETE on the log and any seq that is not the
next one; a unique index makes an idempotency key name one event in its
scope. Writers serialise on ``BEGIN IMMEDIATE``. Read commands open the file
read-only and never write to it, not even the ``-wal`` and ``-shm`` files
SQLite keeps beside a file in use. See ``docs/storage.md``.
"""

from __future__ import annotations

import sqlite3
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import msgspec
import sqlite_utils

from ..engine.moments import format_time, utc_now
from ..errors import DamagedLedger, LedgerError, NeedsMigration, NewerSchema, NotALedger
from . import sqlite_schema
from .protocol import Mode, ResultRow, Snapshot, StatusRow, StoredEvent
from .sqlite_reads import FACT_COLUMNS, SQLiteReads
from .writer_lock import WriterLock

__all__ = ["Mode", "SQLiteBackend"]

_FACT_COLUMNS = FACT_COLUMNS
_CHUNK = 10_000
#: How long a writer waits for the others (seconds) before it fails with "database is locked".
_BUSY_TIMEOUT_S = 60


class SQLiteBackend(SQLiteReads):
    """A ledger in one SQLite file (WAL mode).

    ``mode``: ``create`` opens or creates a file for writing (migrating an
    older schema), ``write`` opens an existing file for writing, ``read``
    opens an existing file read-only and refuses one that needs migrating.
    ``marks``: rows for ``ledger_meta`` written in the transaction that
    creates the file (ignored when the file exists), such as the demo's mark.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        mode: Mode = "create",
        synchronous: str = "FULL",
        marks: Mapping[str, str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.mode = mode
        self._marks = dict(marks or {})
        #: The store schema version the file had when opened (older ones are migrated by the Ledger).
        self.found_version = sqlite_schema.STORE_SCHEMA_VERSION
        #: True when the derived tables were written by an earlier license-ledger (``rebuild`` renews them).
        self.projection_outdated = False
        self._identity: tuple[int, int] | None = None
        self._writer_lock = WriterLock(self.path, timeout=_BUSY_TIMEOUT_S)
        self._refuse_path()
        try:
            self._conn = self._connect(synchronous)
            self.db = sqlite_utils.Database(self._conn)
            self._ensure_schema()
        except sqlite3.DatabaseError as exc:
            self._close_quietly()
            raise self.translate(exc) from None
        except BaseException:
            self._close_quietly()
            raise

    # --- opening ---------------------------------------------------------------

    def _refuse_path(self) -> None:
        path = self.path
        if path.is_dir():
            raise NotALedger(f"{path}: is a folder, not a license-ledger file")
        if not path.parent.is_dir():
            raise NotALedger(f"{path}: cannot create a ledger there: no folder {path.parent}")
        if self.mode != "create" and not path.exists():
            raise NotALedger(f"{path}: no such file (nothing to open; `append` creates one)")
        if self.mode == "read" and path.stat().st_size == 0:
            raise NotALedger(f"{path}: an empty file, not a license-ledger file")

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        if self.mode == "read":
            return self._connect_read_only()
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=_BUSY_TIMEOUT_S
        )
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_S * 1000}")
        # Look before writing: journal_mode = WAL is recorded in the file, and a
        # file that is refused must be left exactly as it was.
        self._conn = conn
        self._refuse_foreign()
        _enable_wal(conn)
        # FULL: a commit is on disk before append returns, even across a power
        # cut. NORMAL survives a crash of the process only (see docs/storage.md).
        conn.execute(f"PRAGMA synchronous = {_pragma_value(synchronous)}")
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA wal_autocheckpoint = 10000")
        return conn

    def _connect_read_only(self) -> sqlite3.Connection:
        # A file in use has its -wal beside it: read through it (mode=ro creates
        # nothing then). A file nobody has open has none, and even a read-only
        # connection would create -wal and -shm files: read it as immutable, and
        # notice if a writer changed it meanwhile (check_unchanged).
        name = urllib.parse.quote(str(self.path.resolve()))
        if Path(f"{self.path}-wal").exists():
            uri = f"file:{name}?mode=ro"
        else:
            uri = f"file:{name}?mode=ro&immutable=1"
            self._identity = self._file_identity()
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=60)
        conn.execute("PRAGMA busy_timeout = 60000")
        return conn

    def _file_identity(self) -> tuple[int, int]:
        stat = self.path.stat()
        return stat.st_mtime_ns, stat.st_size

    def check_unchanged(self) -> None:
        """Refuse what was read as immutable if a writer changed the file meanwhile."""
        if self._identity is None:
            return
        if Path(f"{self.path}-wal").exists() or self._file_identity() != self._identity:
            raise LedgerError(f"{self.path}: the file changed while it was being read; run the command again")

    def _refuse_foreign(self) -> None:
        tables = _tables(self._conn)
        if tables and "ledger_meta" not in tables:
            raise NotALedger(
                f"{self.path}: an SQLite database, but not a license-ledger file "
                f"(found tables {', '.join(sorted(tables)[:5])})"
            )

    def _ensure_schema(self) -> None:
        if "ledger_meta" in _tables(self._conn):
            self._check_version()
            return
        self._refuse_foreign()
        if self.mode == "read":
            raise NotALedger(f"{self.path}: an empty SQLite file, not a license-ledger file")
        with self.write_transaction():
            if "ledger_meta" in _tables(self._conn):  # another process won the race
                self._check_version()
                return
            sqlite_schema.create(self._conn, format_time(utc_now()), self._marks)

    def _check_version(self) -> None:
        row = self._conn.execute("SELECT value FROM ledger_meta WHERE key = 'format'").fetchone()
        if row is None or row[0] != sqlite_schema.FORMAT:
            raise NotALedger(f"{self.path}: ledger_meta does not say {sqlite_schema.FORMAT!r}")
        (version,) = self._conn.execute("SELECT max(version) FROM schema_version").fetchone()
        current = sqlite_schema.STORE_SCHEMA_VERSION
        if not isinstance(version, int) or version > current:
            raise NewerSchema(
                f"{self.path}: store schema version {version}, newer than this "
                f"license-ledger understands ({current}); upgrade license-ledger"
            )
        self.found_version = version
        self.projection_outdated = version == current and sqlite_schema.projection_outdated(self._conn)
        if self.projection_outdated and self.mode == "read":
            raise NeedsMigration(
                f"{self.path}: its results were derived by an earlier license-ledger (without evidence); "
                f"run `license-ledger rebuild --db {self.path}` first (it keeps every event and the chain head)"
            )
        if version < current and self.mode == "read":
            raise NeedsMigration(
                f"{self.path}: written by an older license-ledger (store schema {version}); "
                f"run `license-ledger migrate --db {self.path}` first (it keeps every event and the chain head)"
            )

    def meta(self, key: str) -> str | None:
        """A row of ``ledger_meta`` (not covered by the hash chain), or None."""
        row = self._conn.execute("SELECT value FROM ledger_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @property
    def needs_migration(self) -> bool:
        return self.found_version < sqlite_schema.STORE_SCHEMA_VERSION

    def migrate_facts(self) -> None:
        """Move an older file's facts to this schema (inside a write transaction)."""
        sqlite_schema.migrate_facts(self._conn, self.found_version, format_time(utc_now()))
        self.found_version = sqlite_schema.STORE_SCHEMA_VERSION

    # --- errors ------------------------------------------------------------------

    #: The exceptions this backend's calls raise for a damaged, locked or unwritable file.
    errors: tuple[type[Exception], ...] = (sqlite3.DatabaseError,)

    def translate(self, exc: Exception) -> LedgerError:
        """One line naming the file and what is wrong, for an exception in :attr:`errors`."""
        text = str(exc)
        if "readonly" in text or "read-only" in text or "unable to open" in text:
            return LedgerError(
                f"{self.path}: cannot write here ({text}); is the file or its folder read-only?"
            )
        if "not a database" in text:
            return NotALedger(f"{self.path}: not a license-ledger file ({text})")
        if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
            return LedgerError(f"{self.path}: another process holds the file too long ({text})")
        return DamagedLedger(f"{self.path}: the file is damaged ({text})")

    # --- transactions ----------------------------------------------------------

    @contextmanager
    def write_transaction(self) -> Iterator[None]:
        # Queue on the lock file first: woken the moment the writer before lets go
        # (SQLite's own wait sleeps 1, 2, 5, 10 ms and more between tries).
        with self._writer_lock.held():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def read_transaction(self) -> Iterator[None]:
        # In WAL mode a read transaction sees one state of the file from its
        # first read on, whatever writers commit meanwhile.
        self._conn.execute("BEGIN")
        try:
            yield
        finally:
            self._conn.execute("COMMIT")
        self.check_unchanged()

    # --- writing -------------------------------------------------------------

    def insert(self, events: list[StoredEvent], results: list[ResultRow], statuses: list[StatusRow]) -> None:
        # Plain executemany: sqlite-utils' insert_all costs ~2x for rows we already
        # shaped, and we are inside our own transaction anyway.
        self._conn.executemany(
            f"INSERT INTO events ({_FACT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
            map(msgspec.structs.astuple, events),
        )
        self._insert_projection(results, statuses)

    def _insert_projection(self, results: list[ResultRow], statuses: list[StatusRow]) -> None:
        # Rows are tuples already. (Sorting statuses by key first was measured: no gain.)
        self._conn.executemany(
            "INSERT INTO event_results (seq, result, reason, detail, evidence) VALUES (?,?,?,?,?)", results
        )
        if statuses:
            self._conn.executemany(
                "INSERT INTO status_after (device, seq, state, status) VALUES (?,?,?,?)", statuses
            )

    def replace_projection(self, rows: Iterable[tuple[ResultRow, list[StatusRow]]]) -> None:
        # Dropped and created anew: a file whose derived tables an earlier version wrote gets today's.
        sqlite_schema.recreate_derived(self._conn)
        self.projection_outdated = False
        results: list[ResultRow] = []
        statuses: list[StatusRow] = []
        for result, changed in rows:
            results.append(result)
            statuses.extend(changed)
            if len(results) >= _CHUNK:
                self._insert_projection(results, statuses)
                results, statuses = [], []
        self._insert_projection(results, statuses)

    def save_snapshot(self, snapshot: Snapshot, keep: int = 1) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO snapshots (seq, chain_hash, format, world) VALUES (?, ?, ?, ?)",
            (snapshot.seq, snapshot.chain_hash, snapshot.format, snapshot.world),
        )
        self._conn.execute(
            "DELETE FROM snapshots WHERE seq NOT IN (SELECT seq FROM snapshots ORDER BY seq DESC LIMIT ?)",
            (max(keep, 1),),
        )

    def close(self) -> None:
        self._conn.close()
        # SQLite removes the -wal when the last connection closes: then the lock file goes too.
        self._writer_lock.close(last=not Path(f"{self.path}-wal").exists())

    def _close_quietly(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()
        self._writer_lock.close()


def _enable_wal(conn: sqlite3.Connection, wait: float = 60.0) -> None:
    """Switch the file to WAL mode, waiting for others that open a new file at the same moment.

    The switch takes an exclusive lock, and SQLite answers "locked" at once
    instead of calling the busy handler when processes race to make the same
    new file: so wait here, as the busy timeout would.
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _pragma_value(synchronous: str) -> str:
    value = synchronous.upper()
    if value not in {"FULL", "NORMAL", "EXTRA"}:
        raise ValueError(f"synchronous: expected FULL, NORMAL or EXTRA, found {synchronous!r}")
    return value

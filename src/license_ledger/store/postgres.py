"""The backend for users who outgrow one file: PostgreSQL.

A location ``postgresql://user@host:port/dbname?schema=NAME`` names one
ledger: the tables of ``postgres_schema`` in their own schema (default
``license_ledger``). Several processes on several machines may write to it.
Writers serialise on one transaction-level advisory lock per schema, taken
when the write transaction starts, before the head is read; the append sends
``pg_notify`` inside the same transaction, so that followers waiting in
:meth:`PostgresBackend.wait_for_head` wake on commit (and poll the head
when a notification is missed). Large batches go in with ``COPY``, small
ones in one pipelined round trip. See ``docs/postgres.md``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from ..engine.moments import format_time, utc_now
from ..errors import DamagedLedger, LedgerError, NeedsMigration, NewerSchema, NotALedger
from . import postgres_schema
from .postgres_forensics import PostgresForensics
from .postgres_location import PostgresLocation, first_line, synchronous_commit
from .postgres_reads import FACT_COLUMNS as _FACT_COLUMNS
from .postgres_reads import PAGE as _PAGE
from .postgres_reads import PostgresReads
from .protocol import Mode, ResultRow, Snapshot, StatusRow, StoredEvent

__all__ = ["CHANNEL", "PostgresBackend", "PostgresLocation"]

#: From this many rows on, a batch is written with COPY instead of pipelined INSERTs.
_COPY_FROM = 64
#: The channel appends notify on; the payload is ``schema:head seq``.
CHANNEL = "license_ledger"
#: The first key of the writer lock (``pg_advisory_xact_lock(int, int)``); the second is the schema's hash.
_LOCK_CLASS = 0x4C4C  # "LL"
#: Seconds a session waits for a lock, or stays idle inside a transaction, before the server ends it.
SESSION_TIMEOUT_S = 60


class PostgresBackend(PostgresReads, PostgresForensics):
    """A ledger in a PostgreSQL schema.

    ``mode``: ``create`` creates the schema's tables on first use, ``write``
    needs them, ``read`` needs them and opens a read-only session (every
    transaction ``READ ONLY``). ``synchronous``: ``FULL`` (and ``EXTRA``)
    commit with ``synchronous_commit = on``, ``NORMAL`` with ``off`` (a
    crash of the server may lose the last commits, whole and in order).
    """

    def __init__(self, url: str, *, mode: Mode = "create", synchronous: str = "FULL") -> None:
        self.where = PostgresLocation(url)
        self.location = self.where.shown
        self.schema = self.where.schema
        self.mode = mode
        self._synchronous = synchronous_commit(synchronous)
        self._s = sql.Identifier(self.schema)
        self._begin_write = sql.SQL("BEGIN; SELECT pg_advisory_xact_lock({}, hashtext({}))").format(
            sql.Literal(_LOCK_CLASS), sql.Literal(self.schema)
        )
        #: The store schema version the store had when opened.
        self.found_version = postgres_schema.STORE_SCHEMA_VERSION
        #: True when the derived tables were written by an earlier license-ledger (``rebuild`` renews them).
        self.projection_outdated = False
        self._conn: psycopg.Connection[Any] | None = None
        #: The session of the transaction in progress: never swapped for another inside it.
        self._pinned: psycopg.Connection[Any] | None = None
        self._listener: psycopg.Connection[Any] | None = None
        self._listen_lock = threading.Lock()
        try:
            self._conn = self._connect()
            self._ensure_schema()
        except psycopg.Error as exc:
            self.close()
            raise self.translate(exc) from None
        except BaseException:
            self.close()
            raise

    # --- opening ---------------------------------------------------------------

    def _connect(self, *, read_only: bool | None = None) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(
                self.where.conninfo, autocommit=True, connect_timeout=10, application_name="license-ledger"
            )
        except psycopg.OperationalError as exc:
            raise LedgerError(
                f"{self.location}: the PostgreSQL server at {self.where.server} does not answer "
                f"({first_line(exc)})"
            ) from None
        read_only = self.mode == "read" if read_only is None else read_only
        timeout = f"{SESSION_TIMEOUT_S}s"
        conn.execute(
            f"SET lock_timeout = '{timeout}'; SET idle_in_transaction_session_timeout = '{timeout}'; "
            f"SET synchronous_commit = {self._synchronous}; "
            f"SET default_transaction_read_only = {'on' if read_only else 'off'}"
        )
        return conn

    @property
    def conn(self) -> psycopg.Connection[Any]:
        """The session, opened again if the server ended it (a restart, an idle timeout).

        Inside a transaction it is always the transaction's own session: a
        session lost there fails the transaction rather than going on without it.
        """
        if self._pinned is not None:
            return self._pinned
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                conn.close()
            self._conn = conn = self._connect()
        return conn

    def _q(self, text: str) -> sql.Composed:
        """A statement naming this schema's tables: ``{s}.events``."""
        return sql.SQL(text).format(s=self._s)

    def _tables(self) -> set[str]:
        rows = self.conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
            (self.schema,),
        ).fetchall()
        return {name for (name,) in rows}

    def _ensure_schema(self) -> None:
        tables = self._tables()
        if "ledger_meta" in tables:
            self._check_version()
            return
        self._refuse_foreign(tables)
        if self.mode != "create":
            raise NotALedger(
                f"{self.location}: no license-ledger in schema {self.schema} "
                "(nothing to open; `append` creates one)"
            )
        with self.write_transaction():
            tables = self._tables()
            if "ledger_meta" in tables:  # another process won the race
                self._check_version()
                return
            self._refuse_foreign(tables)
            postgres_schema.create(self.conn, self.schema, format_time(utc_now()))

    def _refuse_foreign(self, tables: set[str]) -> None:
        if tables:
            raise NotALedger(
                f"{self.location}: schema {self.schema} holds other tables, not a license-ledger "
                f"(found tables {', '.join(sorted(tables)[:5])})"
            )

    def _check_version(self) -> None:
        row = self.conn.execute(self._q("SELECT value FROM {s}.ledger_meta WHERE key = 'format'")).fetchone()
        if row is None or row[0] != postgres_schema.FORMAT:
            raise NotALedger(
                f"{self.location}: {self.schema}.ledger_meta does not say {postgres_schema.FORMAT!r}"
            )
        found = self.conn.execute(self._q("SELECT max(version) FROM {s}.schema_version")).fetchone()
        version = None if found is None else found[0]
        current = postgres_schema.STORE_SCHEMA_VERSION
        if not isinstance(version, int) or version > current:
            raise NewerSchema(
                f"{self.location}: store schema version {version}, newer than this "
                f"license-ledger understands ({current}); upgrade license-ledger"
            )
        self.found_version = version
        self.projection_outdated = version == current and postgres_schema.projection_outdated(
            self.conn, self.schema
        )
        if self.projection_outdated and self.mode == "read":
            raise NeedsMigration(
                f"{self.location}: its results were derived by an earlier license-ledger (without "
                f"evidence); run `license-ledger rebuild --db '{self.location}'` first"
            )
        if version < current and self.mode == "read":
            raise NeedsMigration(
                f"{self.location}: written by an older license-ledger (store schema {version}); "
                f"run `license-ledger migrate --db '{self.location}'` first"
            )

    @property
    def needs_migration(self) -> bool:
        return self.found_version < postgres_schema.STORE_SCHEMA_VERSION

    def migrate_facts(self) -> None:
        """Move an older schema's facts to this version (inside a write transaction)."""
        postgres_schema.migrate_facts(self.conn, self.schema, self.found_version, format_time(utc_now()))
        self.found_version = postgres_schema.STORE_SCHEMA_VERSION

    # --- errors ------------------------------------------------------------------

    #: The exceptions this backend's calls raise for an unreachable, locked, damaged or read-only store.
    errors: tuple[type[Exception], ...] = (psycopg.Error,)

    def translate(self, exc: Exception) -> LedgerError:
        """One line naming the database and what is wrong, for an exception in :attr:`errors`."""
        if isinstance(exc, LedgerError):
            return exc
        text = first_line(exc)
        where = self.location
        if isinstance(exc, pg_errors.LockNotAvailable):
            return LedgerError(
                f"{where}: another session held the write lock longer than {SESSION_TIMEOUT_S} s ({text})"
            )
        if isinstance(exc, pg_errors.ReadOnlySqlTransaction):
            return LedgerError(f"{where}: cannot write here ({text})")
        if isinstance(exc, pg_errors.InsufficientPrivilege):
            return LedgerError(f"{where}: the database refused this role ({text})")
        if isinstance(exc, pg_errors.UndefinedTable | pg_errors.UndefinedColumn | pg_errors.DataCorrupted):
            return DamagedLedger(f"{where}: schema {self.schema} is damaged ({text})")
        if isinstance(exc, psycopg.OperationalError):
            return LedgerError(f"{where}: the PostgreSQL server at {self.where.server} failed ({text})")
        return LedgerError(f"{where}: {text}")

    # --- transactions ----------------------------------------------------------

    @contextmanager
    def write_transaction(self) -> Iterator[None]:
        # The writer lock, before anything is read: one writer per schema at a time, waiting
        # writers queue in order; released by COMMIT or ROLLBACK. Sent with the BEGIN (one
        # round trip), and apart from the reads: in READ COMMITTED each statement sees what
        # was committed when it started, so the head is read by a statement after the lock's.
        with self._transaction(self._begin_write):
            yield

    @contextmanager
    def read_transaction(self) -> Iterator[None]:
        # One snapshot of the database for every read of the block.
        with self._transaction(sql.SQL("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")):
            yield

    @contextmanager
    def _transaction(self, begin: sql.SQL | sql.Composed) -> Iterator[psycopg.Connection[Any]]:
        if self._pinned is not None:
            raise RuntimeError("a transaction is already in progress on this backend")
        conn = self.conn
        self._pinned = conn
        try:
            try:
                conn.execute(
                    begin
                )  # a BEGIN that fails half-way (the lock's timeout) leaves a transaction open
                yield conn
            except BaseException:
                try:
                    conn.execute("ROLLBACK")
                except psycopg.Error:
                    # The session is gone (the server rolled back with it): the next call opens another.
                    conn.close()
                raise
            conn.execute("COMMIT")
        finally:
            self._pinned = None

    # --- writing -------------------------------------------------------------

    def insert(self, events: list[StoredEvent], results: list[ResultRow], statuses: list[StatusRow]) -> None:
        fact_rows = [
            (e.seq, e.type, e.at, e.device, e.idempotency_key, e.schema_version, e.payload, e.hash)
            for e in events
        ]
        # Followers hear of the new head at commit (and never of a batch rolled back).
        notice = f"{self.schema}:{events[-1].seq}" if events else None
        self._write_rows(
            [
                ("events", _FACT_COLUMNS, fact_rows),
                ("event_results", "seq, result, reason, detail, evidence", results),
                ("status_after", "device, seq, state, status", statuses),
            ],
            notice,
        )

    def _write_rows(
        self, tables: list[tuple[str, str, Sequence[tuple[Any, ...]]]], notice: str | None = None
    ) -> None:
        """Small batches: every INSERT (and the NOTIFY) in one pipelined round trip. Large ones: COPY."""
        conn = self.conn
        if sum(len(rows) for _, _, rows in tables) < _COPY_FROM:
            with conn.pipeline(), conn.cursor() as cursor:
                for table, columns, rows in tables:
                    if rows:
                        marks = ", ".join(["%s"] * len(columns.split(", ")))
                        cursor.executemany(
                            self._q(f"INSERT INTO {{s}}.{table} ({columns}) VALUES ({marks})"), rows
                        )
                if notice is not None:
                    cursor.execute("SELECT pg_notify(%s, %s)", (CHANNEL, notice))
            return
        with conn.cursor() as cursor:
            for table, columns, rows in tables:
                if rows:
                    with cursor.copy(self._q(f"COPY {{s}}.{table} ({columns}) FROM STDIN")) as copy:
                        for row in rows:
                            copy.write_row(row)
            if notice is not None:
                cursor.execute("SELECT pg_notify(%s, %s)", (CHANNEL, notice))

    def replace_projection(self, rows: Iterable[tuple[ResultRow, list[StatusRow]]]) -> None:
        # DELETE, not TRUNCATE: readers keep reading the old projection until the commit.
        if self.projection_outdated:
            postgres_schema.renew_derived(self.conn, self.schema)
            self.projection_outdated = False
        for table in ("event_results", "status_after", "snapshots"):
            self.conn.execute(self._q(f"DELETE FROM {{s}}.{table}"))
        results: list[ResultRow] = []
        statuses: list[StatusRow] = []
        for result, changed in rows:
            results.append(result)
            statuses.extend(changed)
            if len(results) >= _PAGE:
                self._write_projection(results, statuses)
                results, statuses = [], []
        self._write_projection(results, statuses)

    def _write_projection(self, results: list[ResultRow], statuses: list[StatusRow]) -> None:
        self._write_rows(
            [
                ("event_results", "seq, result, reason, detail, evidence", results),
                ("status_after", "device, seq, state, status", statuses),
            ]
        )

    def save_snapshot(self, snapshot: Snapshot, keep: int = 1) -> None:
        self.conn.execute(
            self._q(
                "INSERT INTO {s}.snapshots (seq, chain_hash, format, world) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (seq) DO UPDATE SET chain_hash = EXCLUDED.chain_hash, "
                "format = EXCLUDED.format, world = EXCLUDED.world"
            ),
            (snapshot.seq, snapshot.chain_hash, snapshot.format, snapshot.world),
        )
        self.conn.execute(
            self._q(
                "DELETE FROM {s}.snapshots WHERE seq NOT IN "
                "(SELECT seq FROM {s}.snapshots ORDER BY seq DESC LIMIT %s)"
            ),
            (max(keep, 1),),
        )

    # --- following other nodes ---------------------------------------------------

    def wait_for_head(self, seq: int, timeout: float, poll_every: float = 1.0) -> int:
        """Wait until the log's head reaches ``seq`` or ``timeout`` seconds pass; return the head.

        Wakes on the ``NOTIFY`` each append sends at commit, on a session of
        its own (so it may run in another thread than the ledger's calls);
        reads the head again at least every ``poll_every`` seconds, so a
        missed notification (the session was cut, a pooler drops them)
        delays the answer, never loses it.
        """
        deadline = time.monotonic() + timeout
        with self._listen_lock:
            while True:
                head = self._listened_head()
                left = deadline - time.monotonic()
                if head >= seq or left <= 0:
                    return head
                self._wait_for_notice(min(left, poll_every))

    def _listened_head(self) -> int:
        for attempt in (1, 2):
            try:
                listener = self._listener
                if listener is None or listener.closed or listener.broken:
                    listener = self._connect(read_only=True)
                    listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
                    self._listener = listener
                row = listener.execute(self._q("SELECT coalesce(max(seq), 0) FROM {s}.events")).fetchone()
                return int(row[0]) if row is not None else 0
            except psycopg.OperationalError:
                self._drop_listener()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _wait_for_notice(self, seconds: float) -> None:
        listener = self._listener
        if listener is None:
            time.sleep(seconds)
            return
        mine = f"{self.schema}:"
        try:
            for notice in listener.notifies(timeout=seconds):
                if notice.payload.startswith(mine):
                    return
        except psycopg.OperationalError:
            self._drop_listener()  # cut off: reconnect and read the head on the next turn

    def _drop_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def close(self) -> None:
        self._drop_listener()
        if self._conn is not None:
            self._conn.close()

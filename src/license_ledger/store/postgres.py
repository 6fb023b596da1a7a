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
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from ..engine.moments import format_time, utc_now
from ..errors import DamagedLedger, LedgerError, NeedsMigration, NewerSchema, NotALedger
from . import postgres_schema
from .protocol import FeedRow, Mode, ResultRow, Snapshot, StatusRow, StoredEvent, TraceRow

__all__ = ["CHANNEL", "PostgresBackend", "PostgresLocation"]

_FACT_COLUMNS = "seq, type, at, device, idempotency_key, schema_version, payload, hash"
#: Rows per page when streaming the log (keyset pages on seq: any size of log in bounded memory).
_PAGE = 10_000
#: From this many rows on, a batch is written with COPY instead of pipelined INSERTs.
_COPY_FROM = 64
#: The channel appends notify on; the payload is ``schema:head seq``.
CHANNEL = "license_ledger"
#: The first key of the writer lock (``pg_advisory_xact_lock(int, int)``); the second is the schema's hash.
_LOCK_CLASS = 0x4C4C  # "LL"
#: Seconds a session waits for a lock, or stays idle inside a transaction, before the server ends it.
SESSION_TIMEOUT_S = 60


class PostgresLocation:
    """A ``postgresql://`` URL split into what libpq gets, the schema, and what messages show.

    ``shown`` is the URL without its password: messages never carry one.
    """

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        schemas = [value for key, value in query if key == "schema"]
        self.schema = schemas[-1] if schemas else postgres_schema.DEFAULT_SCHEMA
        self.host = parts.hostname or "localhost"
        try:
            self.port = parts.port or 5432
        except ValueError:
            self.port = 0
        netloc = parts.netloc.rpartition("@")
        user = netloc[0].partition(":")[0] if netloc[1] else ""
        shown_netloc = f"{user}@{netloc[2]}" if user else netloc[2]
        self.shown = urllib.parse.urlunsplit(parts._replace(netloc=shown_netloc))
        rest = urllib.parse.urlencode([(k, v) for k, v in query if k != "schema"])
        self.conninfo = urllib.parse.urlunsplit(parts._replace(query=rest))
        if self.port == 0:
            raise LedgerError(f"{self.shown}: the port is not a number from 1 to 65535")
        if not postgres_schema.valid_schema_name(self.schema):
            raise LedgerError(
                f"{self.shown}: expected a schema name of letters, digits and underscores "
                f"(at most 63, not starting with a digit), found {self.schema!r}"
            )

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"


class PostgresBackend:
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
        self._synchronous = _synchronous_commit(synchronous)
        self._s = sql.Identifier(self.schema)
        self._begin_write = sql.SQL("BEGIN; SELECT pg_advisory_xact_lock({}, hashtext({}))").format(
            sql.Literal(_LOCK_CLASS), sql.Literal(self.schema)
        )
        #: The store schema version the store had when opened.
        self.found_version = postgres_schema.STORE_SCHEMA_VERSION
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
                f"({_first_line(exc)})"
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
        text = _first_line(exc)
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
                ("event_results", "seq, result, reason, detail", _result_rows(results)),
                ("status_after", "device, seq, at, state, status", _status_rows(statuses)),
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
                ("event_results", "seq, result, reason, detail", _result_rows(results)),
                ("status_after", "device, seq, at, state, status", _status_rows(statuses)),
            ]
        )

    def save_snapshot(self, snapshot: Snapshot) -> None:
        self.conn.execute(self._q("DELETE FROM {s}.snapshots"))
        self.conn.execute(
            self._q("INSERT INTO {s}.snapshots (seq, chain_hash, format, world) VALUES (%s, %s, %s, %s)"),
            (snapshot.seq, snapshot.chain_hash, snapshot.format, snapshot.world),
        )

    # --- reading -------------------------------------------------------------

    def head(self) -> tuple[int, str | None]:
        row = self.conn.execute(
            self._q("SELECT seq, hash FROM {s}.events ORDER BY seq DESC LIMIT 1")
        ).fetchone()
        return (0, None) if row is None else (row[0], row[1])

    def _pages(self, query: str, after: int, *extra: object, limit: int | None = None) -> Iterator[Any]:
        """Rows of ``query`` (``seq > %s ... ORDER BY seq LIMIT %s``), a page at a time.

        Keyset pages rather than one cursor: verify reads several of these
        streams at once on one session, inside one read transaction.
        """
        statement = self._q(query)
        left = limit
        while left is None or left > 0:
            size = _PAGE if left is None else min(_PAGE, left)
            rows = self.conn.execute(statement, (after, *extra, size)).fetchall()
            yield from rows
            if len(rows) < size:
                return
            after = rows[-1][0]
            if left is not None:
                left -= len(rows)

    def events(self, after: int = 0, limit: int | None = None) -> Iterator[StoredEvent]:
        query = f"SELECT {_FACT_COLUMNS} FROM {{s}}.events WHERE seq > %s ORDER BY seq LIMIT %s"
        for row in self._pages(query, after, limit=limit):
            yield StoredEvent(*row)

    def feed(self, after: int = 0, limit: int | None = None) -> list[FeedRow]:
        prefixed = ", ".join(f"e.{c}" for c in _FACT_COLUMNS.split(", "))
        cursor = self.conn.execute(
            self._q(
                f"SELECT {prefixed}, r.result, r.reason, r.detail FROM {{s}}.events e "
                "JOIN {s}.event_results r ON r.seq = e.seq WHERE e.seq > %s ORDER BY e.seq LIMIT %s"
            ),
            (after, limit),
        )
        return [FeedRow(*row) for row in cursor]

    def payloads(self, after: int = 0, at_most: str | None = None) -> Iterator[tuple[int, str]]:
        if at_most is None:
            query = "SELECT seq, schema_version, payload FROM {s}.events WHERE seq > %s ORDER BY seq LIMIT %s"
            rows = self._pages(query, after)
        else:
            query = (
                "SELECT seq, schema_version, payload FROM {s}.events "
                "WHERE seq > %s AND at <= %s ORDER BY seq LIMIT %s"
            )
            rows = self._pages(query, after, at_most)
        return ((version, payload) for _, version, payload in rows)

    def numbered_payloads(self, after: int = 0) -> Iterator[tuple[int, int, str]]:
        """(seq, schema version, payload) in seq order."""
        query = "SELECT seq, schema_version, payload FROM {s}.events WHERE seq > %s ORDER BY seq LIMIT %s"
        return self._pages(query, after)

    def results(self) -> Iterator[ResultRow]:
        query = (
            "SELECT seq, result, reason, detail FROM {s}.event_results WHERE seq > %s ORDER BY seq LIMIT %s"
        )
        for row in self._pages(query, -1):
            yield ResultRow(*row)

    def statuses(self) -> Iterator[StatusRow]:
        # Keyset pages on (seq, device): a block may give one event several rows.
        statement = self._q(
            "SELECT seq, device, at, state, status FROM {s}.status_after "
            "WHERE (seq, device) > (%s, %s) ORDER BY seq, device LIMIT %s"
        )
        seq, device = -1, ""
        while True:
            rows = self.conn.execute(statement, (seq, device, _PAGE)).fetchall()
            for row in rows:
                yield StatusRow(*row)
            if len(rows) < _PAGE:
                return
            seq, device = rows[-1][0], rows[-1][1]

    def by_key(self, device: str | None, key: str) -> StoredEvent | None:
        row = self.conn.execute(
            self._q(
                f"SELECT {_FACT_COLUMNS} FROM {{s}}.events "
                "WHERE coalesce(device, '') = %s AND idempotency_key = %s"
            ),
            (device or "", key),
        ).fetchone()
        return None if row is None else StoredEvent(*row)

    def result_of(self, seq: int) -> ResultRow | None:
        row = self.conn.execute(
            self._q("SELECT seq, result, reason, detail FROM {s}.event_results WHERE seq = %s"), (seq,)
        ).fetchone()
        return None if row is None else ResultRow(*row)

    def device_status(self, device: str, at_most: str) -> tuple[int, str] | None:
        row = self.conn.execute(
            self._q(
                "SELECT seq, status FROM {s}.status_after WHERE device = %s AND at <= %s "
                "ORDER BY seq DESC LIMIT 1"
            ),
            (device, at_most),
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def device_trace(self, device: str) -> list[TraceRow]:
        cursor = self.conn.execute(
            self._q(
                "SELECT s.seq, e.type, s.at, r.result, r.reason, r.detail, s.state FROM {s}.status_after s "
                "JOIN {s}.events e ON e.seq = s.seq JOIN {s}.event_results r ON r.seq = s.seq "
                "WHERE s.device = %s ORDER BY s.seq"
            ),
            (device,),
        )
        return [TraceRow(*row) for row in cursor]

    def snapshot(self) -> Snapshot | None:
        row = self.conn.execute(
            self._q("SELECT seq, chain_hash, format, world FROM {s}.snapshots ORDER BY seq DESC LIMIT 1")
        ).fetchone()
        return None if row is None else Snapshot(row[0], row[1], row[2], bytes(row[3]))

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


def _result_rows(results: list[ResultRow]) -> list[tuple[Any, ...]]:
    return [(r.seq, r.result, r.reason, r.detail) for r in results]


def _status_rows(statuses: list[StatusRow]) -> list[tuple[Any, ...]]:
    return [(s.device, s.seq, s.at, s.state, s.status) for s in statuses]


def _first_line(exc: Exception) -> str:
    """The server's primary message (PostgreSQL adds CONTEXT and DETAIL lines)."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = primary or str(exc) or type(exc).__name__
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _synchronous_commit(synchronous: str) -> str:
    value = synchronous.upper()
    if value not in {"FULL", "NORMAL", "EXTRA"}:
        raise ValueError(f"synchronous: expected FULL, NORMAL or EXTRA, found {synchronous!r}")
    return "off" if value == "NORMAL" else "on"

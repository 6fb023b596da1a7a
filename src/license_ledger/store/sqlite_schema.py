"""The tables of a license-ledger SQLite file, and the migration from older files.

Facts live in ``events``, under triggers that refuse UPDATE, DELETE and any
seq that is not the next one. Everything derived lives beside them and can
be dropped and rebuilt: ``event_results``, ``status_after`` and
``snapshots``. Two views serve a person browsing the file (``event_list``,
``current_status``). ``docs/storage.md`` documents every column.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

__all__ = [
    "FORMAT",
    "STORE_SCHEMA_VERSION",
    "create",
    "migrate_facts",
    "projection_outdated",
    "recreate_derived",
    "statements",
]

#: The version of the tables below; a newer file is refused, an older one migrated.
STORE_SCHEMA_VERSION = 2
FORMAT = "license-ledger"

_META = """
CREATE TABLE ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);
"""

_FACTS = """
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    at TEXT NOT NULL,
    device TEXT,
    idempotency_key TEXT,
    schema_version INTEGER NOT NULL,
    payload TEXT NOT NULL,
    hash TEXT NOT NULL
);
-- A key names one event in its scope: the device for events naming one, else the vendor's.
CREATE UNIQUE INDEX events_by_idempotency_key
    ON events(coalesce(device, ''), idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'license-ledger: the event log is append-only (UPDATE refused)'); END;
CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'license-ledger: the event log is append-only (DELETE refused)'); END;
CREATE TRIGGER events_seq_is_gapless BEFORE INSERT ON events
WHEN NEW.seq IS NOT (SELECT coalesce(max(seq), 0) + 1 FROM events)
BEGIN SELECT RAISE(ABORT, 'license-ledger: seq must be the next one'); END;
"""

_DERIVED = """
CREATE TABLE event_results (
    seq INTEGER PRIMARY KEY,
    result TEXT NOT NULL,
    reason TEXT,
    detail TEXT,
    evidence TEXT
);
CREATE TABLE status_after (
    device TEXT NOT NULL,
    seq INTEGER NOT NULL,
    state TEXT NOT NULL,
    status BLOB,
    PRIMARY KEY (device, seq)
) WITHOUT ROWID;
-- Forensics: a device's first status in a state (device, state, seq), and every
-- device's latest state up to a seq (covering: the packed status is never read).
CREATE INDEX status_after_by_state ON status_after(device, state);
CREATE TABLE snapshots (
    seq INTEGER PRIMARY KEY,
    chain_hash TEXT NOT NULL,
    format INTEGER NOT NULL,
    world BLOB NOT NULL
);
CREATE VIEW event_list AS
    SELECT e.seq, e.at, e.type, e.device, r.result, r.reason, r.detail, r.evidence, e.idempotency_key,
        e.payload
    FROM events e LEFT JOIN event_results r ON r.seq = e.seq;
CREATE VIEW current_status AS
    SELECT s.device, s.seq AS since_seq, e.at AS since, s.state
    FROM status_after s JOIN events e ON e.seq = s.seq
    WHERE s.seq = (SELECT max(seq) FROM status_after WHERE device = s.device);
"""


def statements(script: str) -> list[str]:
    """The statements of a script, split where SQLite says a statement is complete."""
    parts, current = [], ""
    for line in script.strip().splitlines():
        if line.startswith("--"):
            continue
        current += line + "\n"
        if sqlite3.complete_statement(current):
            parts.append(current.strip())
            current = ""
    return parts


def projection_outdated(conn: sqlite3.Connection) -> bool:
    """True when the derived tables predate the current ones (results without evidence, or
    statuses stored whole with their time)."""
    results = {row[1] for row in conn.execute("PRAGMA table_info(event_results)")}
    statuses = {row[1] for row in conn.execute("PRAGMA table_info(status_after)")}
    return bool(results) and ("evidence" not in results or "at" in statuses)


def recreate_derived(conn: sqlite3.Connection) -> None:
    """Drop the derived tables and views and create them anew, empty (inside a write transaction)."""
    for view in ("event_list", "current_status"):
        conn.execute(f"DROP VIEW IF EXISTS {view}")
    for table in ("event_results", "status_after", "snapshots"):
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    for statement in statements(_DERIVED):
        conn.execute(statement)


def create(conn: sqlite3.Connection, applied_at: str, marks: Mapping[str, str] | None = None) -> None:
    """Create the tables of a new file (inside a write transaction).

    ``marks`` are more rows of ``ledger_meta`` (``demo``: written by the demo).
    """
    for statement in statements(_META + _FACTS + _DERIVED):
        conn.execute(statement)
    rows = {**(marks or {}), "format": FORMAT}
    conn.executemany("INSERT INTO ledger_meta (key, value) VALUES (?, ?)", sorted(rows.items()))
    conn.execute(
        "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (STORE_SCHEMA_VERSION, applied_at)
    )


def migrate_facts(conn: sqlite3.Connection, version: int, applied_at: str) -> None:
    """Bring a file of an older schema to this one (inside a write transaction).

    The facts are copied as they are (seq, payload and hash untouched, so the
    chain head stays); the derived tables are created empty, for the caller
    to derive in the same transaction.
    """
    if version != 1:
        raise ValueError(f"no migration from store schema {version}")
    # Version 1 (license-ledger 0.1) kept results and statuses inside the log:
    # move the facts into the new table; the triggers and indexes go with the old one.
    conn.execute("ALTER TABLE events RENAME TO events_v1")
    # Triggers and indexes keep their names through a rename: drop them, the new table has its own.
    old = conn.execute(
        "SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'index') "
        "AND tbl_name IN ('events_v1', 'effects') AND sql IS NOT NULL"
    ).fetchall()
    for kind, name in old:
        conn.execute(f'DROP {kind.upper()} "{name}"')
    for statement in statements(_FACTS + _DERIVED):
        conn.execute(statement)
    conn.execute(
        "INSERT INTO events (seq, type, at, device, idempotency_key, schema_version, payload, hash) "
        "SELECT seq, type, at, device, id, v, payload, hash FROM events_v1 ORDER BY seq"
    )
    for table in ("events_v1", "effects", "snapshot"):
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(
        "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (STORE_SCHEMA_VERSION, applied_at)
    )

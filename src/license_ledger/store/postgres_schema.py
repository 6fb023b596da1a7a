"""The tables of a license-ledger in a PostgreSQL schema, and its migrations.

The counterpart of ``sqlite_schema``: the same tables, columns, views and
version number, in a schema of their own (``license_ledger`` unless the URL
says ``?schema=NAME``). Facts live in ``events``, under triggers that refuse
UPDATE, DELETE, TRUNCATE and any seq that is not the next one. ``at`` is the
same fixed-width UTC text as in SQLite, compared byte by byte (``COLLATE
"C"``), so ordering, filtering and the hash chain are identical.
``docs/postgres.md`` documents the rest.
"""

from __future__ import annotations

import re

from psycopg import Connection, sql

from .sqlite_schema import FORMAT, STORE_SCHEMA_VERSION

__all__ = [
    "DEFAULT_SCHEMA",
    "FORMAT",
    "STORE_SCHEMA_VERSION",
    "TABLES",
    "create",
    "migrate_facts",
    "projection_outdated",
    "renew_derived",
    "valid_schema_name",
]

#: The schema a URL without ``?schema=`` names.
DEFAULT_SCHEMA = "license_ledger"

#: The tables of a current store (views aside).
TABLES = frozenset({"ledger_meta", "schema_version", "events", "event_results", "status_after", "snapshots"})

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

# {s} is the schema, quoted as an identifier. Function bodies name their tables
# with the schema, so that they never depend on a session's search_path.
_DDL = """
CREATE TABLE {s}.ledger_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE {s}.schema_version (version integer PRIMARY KEY, applied_at text NOT NULL);
CREATE TABLE {s}.events (
    seq bigint PRIMARY KEY CHECK (seq >= 1),
    type text NOT NULL,
    at text COLLATE "C" NOT NULL,
    device text,
    idempotency_key text,
    schema_version integer NOT NULL,
    payload text NOT NULL,
    hash text NOT NULL
);
CREATE UNIQUE INDEX events_by_idempotency_key
    ON {s}.events ((coalesce(device, '')), idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE FUNCTION {s}.events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $ll$
BEGIN
    RAISE EXCEPTION 'license-ledger: the event log is append-only (% refused)', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$ll$;
CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON {s}.events
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.events_refuse_change();
CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON {s}.events
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.events_refuse_change();
CREATE TRIGGER events_are_append_only_truncate BEFORE TRUNCATE ON {s}.events
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.events_refuse_change();
CREATE FUNCTION {s}.events_next_seq() RETURNS trigger LANGUAGE plpgsql AS $ll$
BEGIN
    -- A row trigger sees the rows inserted before it by the same statement (COPY included).
    IF NEW.seq IS DISTINCT FROM (SELECT coalesce(max(seq), 0) + 1 FROM {s}.events) THEN
        RAISE EXCEPTION 'license-ledger: seq must be the next one'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$ll$;
CREATE TRIGGER events_seq_is_gapless BEFORE INSERT ON {s}.events
    FOR EACH ROW EXECUTE FUNCTION {s}.events_next_seq();
CREATE TABLE {s}.event_results (
    seq bigint PRIMARY KEY,
    result text NOT NULL,
    reason text,
    detail text,
    evidence text
);
CREATE TABLE {s}.status_after (
    device text NOT NULL,
    seq bigint NOT NULL,
    state text NOT NULL,
    status bytea,
    PRIMARY KEY (device, seq)
);
-- Forensics: a device's first status in a state, and every device's latest state up to a seq.
CREATE INDEX status_after_by_state ON {s}.status_after (device, state, seq);
CREATE TABLE {s}.snapshots (
    seq bigint PRIMARY KEY,
    chain_hash text NOT NULL,
    format integer NOT NULL,
    world bytea NOT NULL
);
CREATE VIEW {s}.event_list AS
    SELECT e.seq, e.at, e.type, e.device, r.result, r.reason, r.detail, r.evidence, e.idempotency_key,
        e.payload
    FROM {s}.events e LEFT JOIN {s}.event_results r ON r.seq = e.seq;
CREATE VIEW {s}.current_status AS
    SELECT DISTINCT ON (s.device) s.device, s.seq AS since_seq, e.at AS since, s.state
    FROM {s}.status_after s JOIN {s}.events e ON e.seq = s.seq
    ORDER BY s.device, s.seq DESC;
"""


def valid_schema_name(name: str) -> bool:
    """A plain identifier: letters, digits and underscores, at most 63, not starting with a digit."""
    return _NAME.fullmatch(name) is not None


def create(conn: Connection, schema: str, applied_at: str) -> None:
    """Create the schema's tables (inside a write transaction, the schema itself may exist empty)."""
    s = sql.Identifier(schema)
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {s}").format(s=s))
    conn.execute(sql.SQL(_DDL).format(s=s))
    conn.execute(
        sql.SQL("INSERT INTO {s}.ledger_meta (key, value) VALUES ('format', %s)").format(s=s), (FORMAT,)
    )
    conn.execute(
        sql.SQL("INSERT INTO {s}.schema_version (version, applied_at) VALUES (%s, %s)").format(s=s),
        (STORE_SCHEMA_VERSION, applied_at),
    )


#: Brings derived tables written before results had evidence to the current ones (idempotent).
_RENEW_DERIVED = """
ALTER TABLE {s}.event_results ADD COLUMN IF NOT EXISTS evidence text;
CREATE INDEX IF NOT EXISTS status_after_by_state ON {s}.status_after (device, state, seq);
CREATE OR REPLACE VIEW {s}.event_list AS
    SELECT e.seq, e.at, e.type, e.device, r.result, r.reason, r.detail, r.evidence, e.idempotency_key,
        e.payload
    FROM {s}.events e LEFT JOIN {s}.event_results r ON r.seq = e.seq;
"""


def projection_outdated(conn: Connection, schema: str) -> bool:
    """True when the derived tables predate the current ones (results without evidence)."""
    row = conn.execute(
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = 'event_results' AND column_name = 'evidence'",
        (schema,),
    ).fetchone()
    return row is not None and row[0] == 0


def renew_derived(conn: Connection, schema: str) -> None:
    """Give derived tables of an earlier version today's columns (inside a write transaction)."""
    conn.execute(sql.SQL(_RENEW_DERIVED).format(s=sql.Identifier(schema)))


def migrate_facts(conn: Connection, schema: str, version: int, applied_at: str) -> None:
    """Bring a schema of an older version to this one (inside a write transaction).

    Version 2 is the first one PostgreSQL stores were written in: there is
    nothing older to migrate yet. A later version adds its step here, as
    ``sqlite_schema.migrate_facts`` does for files.
    """
    raise ValueError(f"no migration from store schema {version} in schema {schema}")

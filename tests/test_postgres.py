"""What only a database server can get wrong: URLs, sessions, locks, copying between backends.

The contract suite (``test_store_contract.py``) runs every store guarantee
against PostgreSQL too; this file holds the rest. Each test works in a fresh
schema of the test database and drops it afterwards.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from license_ledger.cli import main
from license_ledger.errors import LedgerError, NotALedger
from license_ledger.ledger import Ledger
from license_ledger.store import postgres
from license_ledger.store.open import shown
from stores import (
    CODE_A,
    CODE_B,
    POSTGRES_URL,
    drop_schema,
    entered,
    fresh_schema,
    issued,
    postgres_available,
    registered,
    updated,
    with_schema,
)

pytestmark = pytest.mark.skipif(not postgres_available(), reason="no PostgreSQL to test against")

STORY = [
    issued(CODE_A, max_devices=1, at="2026-01-05T10:00:00Z"),
    issued(CODE_B, term_days=365, at="2026-01-05T10:00:00Z", id="issue-b"),
    registered("laptop", at="2026-01-06T09:00:00Z"),
    registered("tablet", at="2026-01-06T09:00:00Z"),
    entered("laptop", CODE_A, at="2026-01-06T09:01:00Z"),
    entered("tablet", CODE_A, at="2026-01-06T09:02:00Z"),
    entered("laptop", CODE_B, at="2026-01-07T09:00:00Z"),
    updated("tablet", "22.4", at="2026-01-08T00:00:00Z"),
]


@pytest.fixture
def url() -> Iterator[str]:
    schema = fresh_schema()
    yield with_schema(POSTGRES_URL, schema)
    drop_schema(schema)


@pytest.fixture
def second_url() -> Iterator[str]:
    schema = fresh_schema()
    yield with_schema(POSTGRES_URL, schema)
    drop_schema(schema)


def lines(events: list[dict[str, object]]) -> str:
    return "".join(json.dumps(e) + "\n" for e in events)


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, env=env, catch_exceptions=False)


def facts(location: str | Path) -> list[tuple[int, str, str, str]]:
    with Ledger.open(location, read_only=True) as ledger:
        return [(e.seq, e.at, e.payload, e.hash) for e in ledger.backend.events()]


# --- the command line on a URL ---------------------------------------------------


def test_every_command_takes_a_url(url: str) -> None:
    appended = run("append", "-", "--json", "--db", url, input=lines(STORY))
    assert appended.exit_code == 0, appended.output
    assert [json.loads(line)["result"] for line in appended.output.splitlines()] == [
        "recorded",
        "recorded",
        "recorded",
        "recorded",
        "activated",
        "rejected",
        "backup_added",
        "recorded",
    ]
    status = run("status", "laptop", "--as-of", "2026-01-10T00:00:00Z", "--json", "--db", url)
    assert json.loads(status.output)["state"] == "active"
    trace = run("trace", "tablet", "--json", env={"LICENSE_LEDGER_DB": url})
    assert [e["result"] for e in json.loads(trace.output)] == ["recorded", "rejected", "recorded"]
    ticked = run("tick", "--now", "2026-02-06T09:01:00Z", "--json", "--db", url)
    assert [json.loads(line)["result"] for line in ticked.output.splitlines()] == ["renewed"]
    verify = run("verify", "--db", url)
    assert verify.exit_code == 0 and "OK: 9 events" in verify.output
    replay = run("replay", "--json", "--db", url)
    assert json.loads(replay.output)["events"] == 9
    exported = run("export", "--db", url)
    assert len(exported.output.splitlines()) == 9
    rebuilt = run("rebuild", "--db", url)
    assert rebuilt.output == "Rebuilt the projection of 9 events from the log.\n"
    migrated = run("migrate", "--db", url)
    assert migrated.output == f"{url}: already at store schema 2; nothing to do.\n"
    again = run("verify", "--json", "--db", url)
    assert json.loads(again.output)["head_hash"] == json.loads(verify_json(url))["head_hash"]


def verify_json(url: str) -> str:
    return run("verify", "--json", "--db", url).output


def test_a_refused_append_stores_nothing_and_touches_no_file(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run("append", "-", "--db", url, input=lines(STORY[:4]))
    refused = run("append", "-", "--db", url, input=lines([updated("ghost", "1.0")]))
    assert refused.exit_code == 2
    assert "Nothing was stored" in refused.output
    assert [seq for seq, *_ in facts(url)] == [1, 2, 3, 4]
    assert list(tmp_path.iterdir()) == []


# --- copying between backends ----------------------------------------------------------


def test_copy_to_postgres_and_back_keeps_every_byte(url: str, tmp_path: Path) -> None:
    source = tmp_path / "shop.db"
    with Ledger.open(source) as ledger:
        ledger.append(STORY)
        ledger.tick("2026-02-06T09:01:00Z")
        statuses = [ledger.status(d, as_of="2026-03-01T00:00:00Z") for d in ("laptop", "tablet")]
        head = ledger.verify().head_hash

    there = run("copy", "--from", str(source), "--to", url)
    assert there.exit_code == 0, there.output
    assert there.output == (
        f"Copied 9 events from {source} to {url}; verified.\nChain head: seq 9 hash {head}\n"
    )
    back = tmp_path / "back.db"
    assert run("copy", "--from", url, "--to", str(back)).exit_code == 0
    assert facts(source) == facts(url) == facts(back)
    for location in (url, back):
        with Ledger.open(location, read_only=True) as copy:
            assert copy.verify().head_hash == head
            assert [copy.status(d, as_of="2026-03-01T00:00:00Z") for d in ("laptop", "tablet")] == statuses
            assert copy.trace("laptop")[-1].result == "renewed"
            assert list(copy.export()) == [payload for _, _, payload, _ in facts(source)]


def test_copy_refuses_a_target_that_holds_events_and_changes_nothing(
    url: str, second_url: str, tmp_path: Path
) -> None:
    with Ledger.open(url) as ledger:
        ledger.append(STORY)
    with Ledger.open(second_url) as other:
        other.append(STORY[:2])
    before = facts(second_url)
    refused = run("copy", "--from", url, "--to", second_url)
    assert refused.exit_code == 2
    assert refused.output == (
        f"Error: {second_url}: holds 2 events already; copy writes only into an empty store\n"
    )
    assert facts(second_url) == before
    # A file that holds events is refused the same way, and left as it was.
    assert run("copy", "--from", url, "--to", str(tmp_path / "new.db")).exit_code == 0
    kept = (tmp_path / "new.db").read_bytes()
    assert run("copy", "--from", second_url, "--to", str(tmp_path / "new.db")).exit_code == 2
    assert (tmp_path / "new.db").read_bytes() == kept
    # Ledger.copy_to does the same from the embedded API.
    with Ledger.open(url) as ledger:
        report = ledger.copy_to(tmp_path / "third.db")
    assert (report.ok, report.events) == (True, 8)


# --- opening: URLs, servers, schemas ------------------------------------------------------


def test_messages_name_host_and_port_and_never_the_password() -> None:
    secret = "postgresql://app:s3cret-pw@127.0.0.1:1/shop?schema=billing"
    with pytest.raises(LedgerError) as refused:
        Ledger.open(secret)
    message = str(refused.value)
    assert "s3cret" not in message and "\n" not in message
    assert message.startswith(
        "postgresql://app@127.0.0.1:1/shop?schema=billing: the PostgreSQL server at 127.0.0.1:1 does not answer ("
    )
    assert shown(secret) == "postgresql://app@127.0.0.1:1/shop?schema=billing"
    result = run("status", "laptop", "--db", secret)
    assert result.exit_code == 2 and "s3cret" not in result.output and result.output.count("\n") == 1


def test_without_psycopg_a_url_is_one_line() -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from license_ledger import Ledger\n"
        "from license_ledger.errors import LedgerError\n"
        "try:\n"
        "    Ledger.open('postgresql://app:pw@db.example:5432/shop')\n"
        "except LedgerError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout == (
        "postgresql://app@db.example:5432/shop: the PostgreSQL backend needs psycopg; "
        "install it with `pip install 'license-ledger[postgres]'`\n"
    ), out.stderr


def test_a_bad_schema_name_is_refused(url: str) -> None:
    with pytest.raises(LedgerError) as refused:
        Ledger.open(with_schema(POSTGRES_URL, "shop; DROP TABLE x"))
    assert "expected a schema name of letters, digits and underscores" in str(refused.value)


def test_read_commands_never_create_and_a_foreign_schema_is_left_alone(url: str) -> None:
    schema = url.rpartition("schema=")[2]
    with pytest.raises(NotALedger) as refused:
        Ledger.open(url, read_only=True)
    assert str(refused.value) == (
        f"{url}: no license-ledger in schema {schema} (nothing to open; `append` creates one)"
    )
    raw = postgres.PostgresLocation(url)
    import psycopg

    with psycopg.connect(raw.conninfo, autocommit=True) as conn:
        assert conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() is None
        conn.execute(f"CREATE SCHEMA {schema}; CREATE TABLE {schema}.notes (body text)")
    with pytest.raises(NotALedger) as foreign:
        Ledger.open(url)
    assert str(foreign.value) == (
        f"{url}: schema {schema} holds other tables, not a license-ledger (found tables notes)"
    )
    with psycopg.connect(raw.conninfo, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
    assert tables == [("notes",)]


def test_a_read_only_session_refuses_writes_at_the_server(url: str) -> None:
    Ledger.open(url).close()
    with Ledger.open(url, read_only=True) as reader:
        backend = reader.backend
        assert isinstance(backend, postgres.PostgresBackend)
        with pytest.raises(LedgerError) as refused:
            reader.append([registered("d1", at="2026-01-01T00:00:00Z")])
        assert "cannot write here (cannot execute" in str(refused.value)
    assert facts(url) == []


def test_sessions_give_up_on_a_stuck_lock_and_a_stuck_transaction(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Ledger.open(url) as ledger:
        backend = ledger.backend
        assert isinstance(backend, postgres.PostgresBackend)
        names = ("lock_timeout", "idle_in_transaction_session_timeout")
        assert [backend.conn.execute(f"SHOW {name}").fetchone() for name in names] == [("1min",), ("1min",)]

    monkeypatch.setattr(postgres, "SESSION_TIMEOUT_S", 1)  # a minute is long for a test
    stuck, writer = Ledger.open(url), Ledger.open(url)
    with pytest.raises(LedgerError) as gone, stuck.backend.write_transaction():
        # The lock is held; the other writer gives up after lock_timeout, in one line.
        with pytest.raises(LedgerError) as waited:
            writer.append([registered("d1", at="2026-01-01T00:00:00Z")])
        assert str(waited.value) == (
            f"{url}: another session held the write lock longer than 1 s "
            "(canceling statement due to lock timeout)"
        )
        # Idle in the transaction: the server ends the session (after 1 s; slack for a busy machine),
        # and the lock goes with it. Any statement now would reset the idle clock, so only wait.
        time.sleep(4)
        try:
            stuck.backend.conn.execute("SELECT 1")
        except Exception as exc:
            raise stuck.backend.translate(exc) from None
    assert "terminating connection due to idle-in-transaction timeout" in str(gone.value)
    [first] = writer.append([registered("d1", at="2026-01-01T00:00:00Z")])
    # The stuck ledger opens a new session on its next call and carries on from the head.
    [second] = stuck.append([registered("d2", at="2026-01-01T00:00:00Z")])
    assert (first.seq, second.seq) == (1, 2)
    stuck.close()
    writer.close()


def test_a_writer_waits_for_the_lock_then_reads_the_new_head(url: str) -> None:
    first, second = Ledger.open(url), Ledger.open(url)
    first.append(
        [issued(CODE_A, max_devices=1, at="2026-01-01T00:00:00Z"), registered("d1"), registered("d2")]
    )
    second.world()  # caught up at seq 3 before the other writer moves on
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with first.backend.write_transaction():
            holding.set()
            release.wait(10)
            first.backend.conn.execute("SELECT 1")

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(10)
    answers: list[object] = []
    waiter = threading.Thread(target=lambda: answers.extend(second.append([entered("d2", CODE_A)])))
    waiter.start()
    time.sleep(0.3)
    assert answers == []  # waiting for the lock
    release.set()
    holder.join(10)
    first.append([entered("d1", CODE_A)])  # after the holder, before or after the waiter
    waiter.join(10)
    results = {e.seq: (e.device, e.result) for e in first.events()}
    assert sorted(results) == [1, 2, 3, 4, 5]
    assert sorted(r for _, r in results.values() if r in ("activated", "rejected")) == [
        "activated",
        "rejected",
    ]
    first.close()
    second.close()


def test_a_big_batch_goes_in_with_copy_gapless_and_whole(url: str) -> None:
    with Ledger.open(url) as ledger:
        ledger.append([issued(CODE_A, max_devices=1000, at="2026-01-01T00:00:00Z")])
        batch = [registered(f"d{i}", at="2026-01-02T00:00:00Z") for i in range(3000)]
        batch += [entered(f"d{i}", CODE_A, at="2026-01-03T00:00:00Z") for i in range(3000)]
        appended = ledger.append(batch)
        assert [a.seq for a in appended] == list(range(2, 6002))
        assert [a.result for a in appended].count("activated") == 1000
        with pytest.raises(LedgerError):
            ledger.append([*batch[:10], registered("d1", at="2026-01-03T00:00:00Z")])  # refused at line 11
        assert ledger.verify().events == 6001
        import psycopg

        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            schema = url.rpartition("schema=")[2]
            with pytest.raises(psycopg.IntegrityError) as refused:
                conn.execute(f"TRUNCATE {schema}.events CASCADE")
            assert refused.value.diag.message_primary == (
                "license-ledger: the event log is append-only (TRUNCATE refused)"
            )


def test_the_inspector_reads_a_postgresql_ledger(url: str) -> None:
    from litestar.testing import TestClient

    from license_ledger.service.inspector.app import create_inspector_app

    assert run("append", "-", "--db", url, input=lines(STORY)).exit_code == 0
    with TestClient(create_inspector_app(url)) as client:
        overview = client.get("/")
        assert overview.status_code == 200 and "laptop" in overview.text and "tablet" in overview.text
        device = client.get("/devices/tablet")
        assert device.status_code == 200 and "device_limit_reached" in device.text


def test_the_postgres_guide_runs_as_written(tmp_path: Path) -> None:
    """Every shell block of docs/postgres.md, in order, in one shell, on schemas of the test's own."""
    guide = (Path(__file__).parent.parent / "docs" / "postgres.md").read_text()
    blocks = re.findall(r"^```sh\n(.*?)^```$", guide, re.S | re.M)
    assert len(blocks) == 4
    shop, shop_copy = fresh_schema(), fresh_schema()
    script = "set -e\n" + "\n".join(blocks)
    script = script.replace("pip install 'license-ledger[postgres]'", "true  # installed by the test setup")
    script = script.replace("schema=shop_copy", f"schema={shop_copy}").replace(
        "schema=shop", f"schema={shop}"
    )
    script = script.replace("FROM shop.", f"FROM {shop}.")
    assert script.count(shop) > 5 and "schema=shop" not in script
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    try:
        done = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
    finally:
        drop_schema(shop)
        drop_schema(shop_copy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"result":"' in done.stdout  # the nodes answered the try-again and the trace
    assert "OK: " in done.stdout  # both copies verified

"""Real processes on one PostgreSQL database: two service nodes, command lines, kills, followers.

Each test works in a fresh schema and drops it afterwards. Servers are
``license-ledger serve --db postgresql://...`` in subprocesses, as an
operator runs them behind a load balancer.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from license_ledger.engine.codes import seal_code
from license_ledger.engine.queries import seats
from license_ledger.ledger import Ledger
from license_ledger.store.postgres import PostgresBackend
from live_service import free_port
from stores import (
    CODE_A,
    CODE_B,
    POSTGRES_URL,
    drop_schema,
    fresh_schema,
    issued,
    postgres_available,
    registered,
    with_schema,
)
from test_store_processes import check_seats_and_replay, finish, go, start, wait_ready

pytestmark = pytest.mark.skipif(not postgres_available(), reason="no PostgreSQL to test against")

CLI = [sys.executable, "-m", "license_ledger.cli"]


@pytest.fixture
def url() -> Iterator[str]:
    schema = fresh_schema()
    yield with_schema(POSTGRES_URL, schema)
    drop_schema(schema)


class Node:
    """``license-ledger serve`` with two workers on a free port, its output in a log file."""

    def __init__(self, url: str, log: Path) -> None:
        for _ in range(3):
            self.port = free_port()
            self.log = log
            with log.open("wb") as out:
                self.process = subprocess.Popen(
                    [*CLI, "serve", "--db", url, "--insecure-no-auth", "--port", str(self.port)]
                    + ["--tick-every", "0", "--workers", "2"],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            self.url = f"http://127.0.0.1:{self.port}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                        return
                except httpx.TransportError:
                    time.sleep(0.05)
            self.stop()
            if "address already in use" not in log.read_text().lower():
                break
        raise RuntimeError(f"the node did not start:\n{log.read_text()}")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.log.read_text()


@pytest.fixture
def nodes(url: str, tmp_path: Path) -> Iterator[list[Node]]:
    started = [Node(url, tmp_path / "node-a.log"), Node(url, tmp_path / "node-b.log")]
    yield started
    for node in started:
        log = node.stop()
        assert "Traceback" not in log, log


# One CodeEntered for a code with one seat left, through a service node, by many devices at once.
RACER = r"""
import json, sys, httpx
node, device, code = sys.argv[1], sys.argv[2], sys.argv[3]
client = httpx.Client(base_url=node, timeout=60)
client.get("/health")
print("ready", flush=True)
sys.stdin.readline()
answer = client.post(f"/devices/{device}/codes", json={"code": code})
print(json.dumps([answer.status_code, answer.json()]))
"""


def test_twelve_processes_race_for_three_seats_across_two_nodes_beside_command_lines(
    url: str, nodes: list[Node], tmp_path: Path
) -> None:
    # Two nodes of two workers each: four processes, each with its own group committer.
    racers = [f"racer-{n}" for n in range(12)]
    clerks = [f"clerk-{n}" for n in range(3)]
    with Ledger.open(url) as ledger:
        ledger.append(
            [
                issued(CODE_A, max_devices=3, term_days=36_500),
                *[registered(d) for d in racers],
                *[registered(f"{clerk}-{i}") for clerk in clerks for i in range(100)],
            ]
        )
        seeded = ledger.backend.head()[0]
    # The command lines append batches of their own devices' events meanwhile.
    # Three clerks append their devices' events with the command line, one small file at a
    # time, each file a process of its own; they are at it before, during and after the race.
    parts: dict[str, list[Path]] = {}
    for clerk in clerks:
        parts[clerk] = []
        for part in range(4):
            events: list[dict[str, Any]] = []
            for i in range(part * 25, part * 25 + 25):
                events.append({"type": "AppUpdated", "device": f"{clerk}-{i}", "app_version": "22.1"})
                events.append(
                    {"type": "ConsoleConnectionChanged", "device": f"{clerk}-{i}", "connected": False}
                )
            path = tmp_path / f"{clerk}-{part}.jsonl"
            path.write_text("".join(json.dumps(e) + "\n" for e in events))
            parts[clerk].append(path)
    loop = 'for f in "$@"; do "$0" -m license_ledger.cli append "$f" --json --db "$DB" || exit 1; done'
    clis = [
        subprocess.Popen(
            ["sh", "-c", loop, sys.executable, *map(str, paths)],
            env={**os.environ, "DB": url},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for paths in parts.values()
    ]
    children = [start(RACER, nodes[n % 2].url, device, CODE_A) for n, device in enumerate(racers)]
    wait_ready(children)
    with Ledger.open(url, read_only=True) as watcher:  # go once the command lines are appending
        assert watcher.wait_for(seeded + 1, timeout=60) > seeded
    go(children)
    answers = {device: finish(child) for device, child in zip(racers, children, strict=True)}
    told: list[dict[str, Any]] = []
    for cli in clis:
        out, err = cli.communicate(timeout=120)
        assert cli.returncode == 0, err
        told += [json.loads(line) for line in out.splitlines()]

    assert all(status == 200 for status, _ in answers.values()), answers
    winners = sorted(d for d, (_, a) in answers.items() if a["result"] == "activated")
    assert len(winners) == 3
    for device, (_, answer) in answers.items():
        if device not in winners:
            assert (answer["result"], answer["reason"]) == ("rejected", "device_limit_reached")
            assert answer["detail"] == {"max_devices": 3, "held_by": winners}
    with Ledger.open(url, read_only=True) as ledger:
        rows = {row.seq: row for row in ledger.events()}
        # Every answer names its own stored row: nothing lost, nothing twice.
        seqs = [a["seq"] for _, a in answers.values()] + [a["seq"] for a in told]
        assert len(seqs) == len(set(seqs)) == 12 + 600
        assert sorted(rows) == list(range(1, seeded + 12 + 600 + 1))
        for device, (_, answer) in answers.items():
            row = rows[answer["seq"]]
            assert (row.device, row.type, row.result) == (device, "CodeEntered", answer["result"])
        for answer in told:
            assert rows[answer["seq"]].result == answer["result"] == "recorded"
        print(
            "ORDER",
            "".join(
                "r"
                if (row.device or "").startswith("racer") and row.type == "CodeEntered"
                else "c"
                if (row.device or "").startswith("clerk") and row.type != "DeviceRegistered"
                else ""
                for row in rows.values()
            ),
        )
        assert seats(ledger.world()) == {seal_code(CODE_A).sha256: (3, 3)}
        check_seats_and_replay(ledger)


# Appends big batches until it is killed; says when each batch begins and ends.
BATCHES = r"""
import sys
from license_ledger.ledger import Ledger

url, round_, size, code = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ledger = Ledger.open(url, snapshot_every=1500)
ledger.world()
print("ready", flush=True)
k = 0
while True:
    events = []
    for i in range(size // 3):
        device = f"r{round_}-b{k}-d{i}"
        events.append({"type": "DeviceRegistered", "device": device, "app_version": "21.3"})
        events.append({"type": "CodeEntered", "device": device, "code": code})
        events.append({"type": "ConsoleConnectionChanged", "device": device, "connected": i % 2 == 0})
    for j, event in enumerate(events):
        event["id"] = f"batch-{round_}-{k}-{j}"
    print(f"begin {k}", flush=True)
    ledger.append(events)
    print(f"done {k}", flush=True)
    k += 1
"""


def test_a_writer_killed_mid_batch_leaves_all_of_the_batch_or_none(url: str) -> None:
    with Ledger.open(url) as ledger:
        ledger.append([issued(CODE_B, max_devices=1_000_000, term_days=365)])
    rng = random.Random(20260101)
    size, rounds = 600, 6
    killed_mid_batch = 0
    expected_rows = 1
    for round_ in range(rounds):
        child = start(BATCHES, url, round_, size, CODE_B)
        wait_ready([child])
        time.sleep(rng.uniform(0.05, 0.4))
        os.kill(child.pid, signal.SIGKILL)
        out, err = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL, err
        said = out.split()
        done = said.count("done")
        if said and said[-2] == "begin":
            killed_mid_batch += 1
        with Ledger.open(url) as ledger:  # the server rolled the cut session back, lock and all
            report = ledger.verify()
            assert (report.ok, report.problem) == (True, None)
            present: dict[int, set[int]] = defaultdict(set)
            for row in ledger.events(after=expected_rows):
                assert row.idempotency_key is not None
                _, _, k, j = row.idempotency_key.split("-")
                present[int(k)].add(int(j))
            assert all(found == set(range(size)) for found in present.values())
            assert sorted(present) == list(range(len(present)))
            assert len(present) in (done, done + 1)
            expected_rows += size * len(present)
            assert report.events == expected_rows
    assert killed_mid_batch >= 1
    with Ledger.open(url) as ledger:
        check_seats_and_replay(ledger)
        [after] = ledger.append([registered("after-all", app_version="22.0")])
        assert after.seq == expected_rows + 1


def test_an_idle_node_answers_with_the_other_nodes_events(url: str, nodes: list[Node]) -> None:
    with nodes[0].client() as one, nodes[1].client() as other:
        idle_node_answers(one, other)


def idle_node_answers(one: httpx.Client, other: httpx.Client) -> None:
    seed = [issued(CODE_A, max_devices=1), registered("d1"), registered("d2")]
    assert one.post("/events", json=seed).status_code == 200
    # The other node loads its world once, then sits idle while the first one appends.
    assert other.post("/events", json=registered("d3")).json()[0]["seq"] == 4
    taken = one.post("/devices/d1/codes", json={"code": CODE_A}).json()
    assert (taken["seq"], taken["result"]) == (5, "activated")
    assert other.get("/devices/d1/status").json()["state"] == "active"
    assert [e["seq"] for e in other.get("/events", params={"after": 3}).json()] == [4, 5]
    assert other.get("/devices/d1/trace").json()[-1]["result"] == "activated"
    # Its next write starts from the head it reads under the lock, not from what it last saw.
    lost = other.post("/devices/d2/codes", json={"code": CODE_A}).json()
    assert (lost["seq"], lost["result"], lost["reason"]) == (6, "rejected", "device_limit_reached")
    assert lost["detail"] == {"max_devices": 1, "held_by": ["d1"]}
    assert one.get("/verify").json()["ok"] is True


def cli_append(url: str, events: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    text = "".join(json.dumps(e) + "\n" for e in events)
    return subprocess.run(
        [*CLI, "append", "-", "--db", url], input=text, capture_output=True, text=True, timeout=60
    )


def test_a_follower_hears_of_appends_by_notification_and_by_polling_when_one_is_lost(url: str) -> None:
    follower = Ledger.open(url)
    backend = follower.backend
    assert isinstance(backend, PostgresBackend)
    assert follower.wait_for(1, timeout=0.2) == 0  # nothing yet: gives up after the timeout
    writer: list[subprocess.CompletedProcess[str]] = []

    def append_later(events: list[dict[str, Any]]) -> threading.Thread:
        thread = threading.Thread(target=lambda: writer.append(cli_append(url, events)))
        thread.start()
        return thread

    # Notified: with a poll every minute, only the NOTIFY sent at commit can wake it this soon.
    thread = append_later([registered("d1")])
    started = time.monotonic()
    assert follower.wait_for(1, timeout=30, poll_every=60) == 1
    assert time.monotonic() - started < 25
    thread.join()
    assert [e.device for e in follower.events()] == ["d1"]

    # Lost: the session stops hearing (as behind a pooler that drops LISTEN); polling finds the event.
    listener = backend._listener
    assert listener is not None
    listener.execute("UNLISTEN *")
    thread = append_later([registered("d2")])
    assert follower.wait_for(2, timeout=30, poll_every=0.2) == 2
    thread.join()
    assert list(listener.notifies(timeout=0.3)) == []  # no notification came: polling it was
    assert all(done.returncode == 0 for done in writer), [done.stderr for done in writer]
    assert [e.device for e in follower.events()] == ["d1", "d2"]
    follower.close()

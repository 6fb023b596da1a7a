"""Real OS processes on one SQLite file: concurrent appenders, and appenders killed mid-batch.

Each child is a fresh Python running a small script against the same file;
the parent then reads the file back and checks it with a full replay.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from license_ledger.engine.codec import decode_lines
from license_ledger.engine.codes import seal_code
from license_ledger.engine.queries import seats
from license_ledger.engine.world import World
from license_ledger.ledger import Ledger
from stores import CODE_A, CODE_B, CODE_SEAT, at, issued, registered, replayed_results

# Several appenders started at once, without `at`: the store stamps each event.
APPENDER = r"""
import json, random, sys, time
from license_ledger.ledger import Ledger

path, worker, rounds, seat, multi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
print("ready", flush=True)
sys.stdin.readline()  # all children start together
ledger = Ledger.open(path)  # the first one to get here creates the file
rng = random.Random(worker)
answers = []

def send(events):
    out = ledger.append(events)
    answers.extend([a.seq, a.type, a.result, a.reason, a.stored, e.get("id")] for a, e in zip(out, events))
    return out

a, b = f"w{worker}-a", f"w{worker}-b"
send([
    {"type": "CodeIssued", "code": seat, "kind": "commercial", "term_days": 365, "max_devices": 1, "id": "issue-seat"},
    {"type": "CodeIssued", "code": multi, "kind": "commercial", "term_days": 365, "max_devices": 3, "id": "issue-multi"},
    {"type": "DeviceRegistered", "device": a, "app_version": "21.3", "id": f"{a}-registered"},
    {"type": "DeviceRegistered", "device": b, "app_version": "21.3", "id": f"{b}-registered"},
])
holds_a = holds_b = False
for r in range(rounds):
    time.sleep(rng.uniform(0, 0.01))  # a pause, as a real client has, lets the others in
    first = []
    if holds_a and rng.random() < 0.5:
        first.append({"type": "LicenseRemoved", "device": a})
        holds_a = False
    first.append({"type": "CodeEntered", "device": a, "code": seat, "id": f"{a}-{r}-enter"})
    holds_a = holds_a or send(first)[-1].result == "activated"
    second = [
        {"type": "AppUpdated", "device": b, "app_version": f"21.{r}"},
        {"type": "ConsoleConnectionChanged", "device": b, "connected": r % 3 != 2},
    ]
    if holds_b:
        second.append({"type": "LicenseRemoved", "device": b, "id": f"{b}-{r}-remove"})
        holds_b = False
    else:
        second.append({"type": "CodeEntered", "device": b, "code": multi, "id": f"{b}-{r}-enter"})
    holds_b = send(second)[-1].result == "activated"
print(json.dumps(answers))
"""

# One CodeEntered for a code with one seat left, sent by many devices at once.
LAST_SEAT = r"""
import json, sys
from license_ledger.ledger import Ledger

path, device, code = sys.argv[1], sys.argv[2], sys.argv[3]
ledger = Ledger.open(path)
ledger.world()  # caught up, so that all children race only for the seat
print("ready", flush=True)
sys.stdin.readline()
[a] = ledger.append([{"type": "CodeEntered", "device": device, "code": code}])
print(json.dumps([a.seq, a.result, a.reason, a.detail]))
"""

# Appends big batches until it is killed; says when each batch begins and ends.
BATCHES = r"""
import sys
from license_ledger.ledger import Ledger

path, round_, size, code, sync = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
ledger = Ledger.open(path, snapshot_every=1500, synchronous=sync)
ledger.world()
print("ready", flush=True)
k = 0
while True:
    events = []
    for i in range(size // 3):
        device = f"r{round_}-b{k}-d{i}"
        events.append({"type": "DeviceRegistered", "device": device, "app_version": "21.3"})
        if i % 4 == 0:
            events.append({"type": "CodeEntered", "device": device, "code": "WRONG-CODE0-00000-00000"})
        else:
            events.append({"type": "CodeEntered", "device": device, "code": code})
        events.append({"type": "ConsoleConnectionChanged", "device": device, "connected": i % 2 == 0})
    for j, event in enumerate(events):
        event["id"] = f"batch-{round_}-{k}-{j}"
    print(f"begin {k}", flush=True)
    ledger.append(events)
    print(f"done {k}", flush=True)
    k += 1
"""


def start(script: str, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_ready(children: list[subprocess.Popen[str]]) -> None:
    for child in children:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line == "ready\n", child.stderr.read() if child.stderr else line


def go(children: list[subprocess.Popen[str]]) -> None:
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()


def finish(child: subprocess.Popen[str]) -> Any:
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    return json.loads(out)


def check_seats_and_replay(ledger: Ledger) -> None:
    """Stored results equal replay; no code ever held by more devices than it allows."""
    rows = ledger.events()
    assert [row.seq for row in rows] == list(range(1, len(rows) + 1))
    assert [row.at for row in rows] == sorted(row.at for row in rows)
    ids = [row.idempotency_key for row in rows if row.idempotency_key is not None]
    assert len(ids) == len(set(ids))
    details = [None if row.detail is None else json.loads(row.detail) for row in rows]
    stored = [(row.seq, row.result, row.reason, detail) for row, detail in zip(rows, details, strict=True)]
    assert replayed_results(ledger) == stored
    world = World()
    for event in decode_lines(ledger.export()):
        world.apply(event)
        assert all(held <= allowed for held, allowed in seats(world).values())
    report = ledger.verify()
    assert (report.ok, report.events, report.first_bad_seq) == (True, len(rows), None)


def test_concurrent_appenders_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"  # not created yet: the children race to create it
    workers, rounds = 6, 20
    children = [start(APPENDER, path, w, rounds, CODE_SEAT, CODE_B) for w in range(workers)]
    wait_ready(children)
    go(children)
    answers = [finish(child) for child in children]

    with Ledger.open(path) as ledger:
        rows = {row.seq: row for row in ledger.events()}
        # Every event a child was told is stored is there, once, as it was told.
        told: dict[int, tuple[str, str, str | None, str | None]] = {}
        for worker in answers:
            for seq, kind, result, reason, was_stored, event_id in worker:
                row = rows[seq]
                assert (row.type, row.result, row.reason) == (kind, result, reason)
                if was_stored:
                    assert seq not in told
                    told[seq] = (kind, result, reason, event_id)
                    assert row.idempotency_key == event_id
                else:  # answered from its id: another process stored it
                    assert row.idempotency_key == event_id
        assert sorted(told) == sorted(rows)
        # The children did write at the same time: their events interleave.
        writers = [row.device.split("-")[0] for row in rows.values() if row.device is not None]
        assert sum(1 for one, two in zip(writers, writers[1:], strict=False) if one != two) > 3 * workers
        # 6 workers x (4 setup events + 20 rounds of ~4) less the 10 repeated CodeIssued.
        sent = sum(len(worker) for worker in answers)
        assert len(rows) == sent - 2 * (workers - 1)
        repeats = [a for worker in answers for a in worker if not a[4]]
        assert sorted(a[5] for a in repeats) == ["issue-multi"] * 5 + ["issue-seat"] * 5
        assert Counter(row.type for row in rows.values())["CodeIssued"] == 2

        # The seat was contested: taken, refused for being held, taken again.
        seat_results = Counter(
            (row.result, row.reason)
            for row in rows.values()
            if row.type == "CodeEntered" and row.device is not None and row.device.endswith("-a")
        )
        assert seat_results["activated", None] > 0
        assert seat_results["rejected", "device_limit_reached"] > 0
        check_seats_and_replay(ledger)


def test_the_last_seat_goes_to_exactly_one_device(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    devices = [f"laptop-{n}" for n in range(8)]
    with Ledger.open(path) as ledger:
        ledger.append(
            [
                issued(CODE_A, max_devices=3, term_days=36_500, at=at(0)),
                *[registered(d, at=at(0)) for d in ["desk-1", "desk-2", *devices]],
                {"type": "CodeEntered", "device": "desk-1", "code": CODE_A, "at": at(1)},
                {"type": "CodeEntered", "device": "desk-2", "code": CODE_A, "at": at(1)},
            ]
        )
    children = [start(LAST_SEAT, path, device, CODE_A) for device in devices]
    wait_ready(children)
    go(children)
    answers = {device: finish(child) for device, child in zip(devices, children, strict=True)}

    winners = [d for d, (_, result, _, _) in answers.items() if result == "activated"]
    assert len(winners) == 1
    (winner,) = winners
    assert sorted(seq for seq, _, _, _ in answers.values()) == list(range(14, 22))
    winning_seq = answers[winner][0]
    for device, (seq, result, reason, detail) in answers.items():
        if device != winner:
            assert (result, reason) == ("rejected", "device_limit_reached")
            assert detail == {"max_devices": 3, "held_by": sorted(["desk-1", "desk-2", winner])}
            assert seq > winning_seq
    with Ledger.open(path) as ledger:
        assert seal_code(CODE_A).sha256 in ledger.world().codes
        assert seats(ledger.world()) == {seal_code(CODE_A).sha256: (3, 3)}
        check_seats_and_replay(ledger)


def test_an_appender_killed_mid_batch_leaves_whole_batches(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with Ledger.open(path) as ledger:
        ledger.append([issued(CODE_B, max_devices=1_000_000, term_days=365)])
    rng = random.Random(20250101)
    size, rounds = 600, 8
    killed_mid_batch = 0
    expected_rows = 1
    for round_ in range(rounds):
        # NORMAL syncs less often than FULL, but a killed process loses no commit either way.
        child = start(BATCHES, path, round_, size, CODE_B, "FULL" if round_ % 2 else "NORMAL")
        wait_ready([child])
        time.sleep(rng.uniform(0.02, 0.3))
        os.kill(child.pid, signal.SIGKILL)
        out, err = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL, err
        said = out.split()
        done = said.count("done")
        if said and said[-2] == "begin":
            killed_mid_batch += 1

        with Ledger.open(path) as ledger:
            report = ledger.verify()
            assert (report.ok, report.problem) == (True, None)
            present: dict[int, set[int]] = defaultdict(set)
            prefix = f"batch-{round_}-"
            for row in ledger.events(after=expected_rows):
                if row.idempotency_key is not None and row.idempotency_key.startswith(prefix):
                    _, _, k, j = row.idempotency_key.split("-")
                    present[int(k)].add(int(j))
            # Each batch whole or absent, and the whole ones are the first ones.
            assert all(found == set(range(size)) for found in present.values())
            assert sorted(present) == list(range(len(present)))
            # Every batch reported done is there; at most one more (killed before it said so).
            assert len(present) in (done, done + 1)
            expected_rows += size * len(present)
            assert report.events == expected_rows
    assert killed_mid_batch >= 1
    with Ledger.open(path) as ledger:
        check_seats_and_replay(ledger)
        [after] = ledger.append([registered("after-all", app_version="22.0")])
        assert after.seq == expected_rows + 1


# Appends small batches as fast as it can until told to stop on standard input.
BUSY_WRITER = r"""
import sys, threading
from license_ledger.ledger import Ledger

path = sys.argv[1]
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
ledger = Ledger.open(path, synchronous="NORMAL")
print("ready", flush=True)
k = 0
while not stop.is_set():
    own = f"BUSY{k:016d}"
    ledger.append([
        {"type": "DeviceRegistered", "device": f"busy-{k}", "app_version": "21.3"},
        {"type": "CodeEntered", "device": f"busy-{k}", "code": sys.argv[2]},
        {"type": "CodeIssued", "code": own, "kind": "commercial", "term_days": 30, "max_devices": 1},
        {"type": "CodeEntered", "device": f"busy-{k}", "code": own},
        {"type": "ConsoleConnectionChanged", "device": f"busy-{k}", "connected": False},
    ])
    ledger.append([{"type": "CodeBlocked", "code": sys.argv[2] if k % 50 == 49 else own}])
    k += 1
print(k, flush=True)
"""


def test_verify_tells_the_truth_while_another_process_appends(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with Ledger.open(path) as ledger:
        ledger.append([issued(CODE_SEAT, max_devices=1_000_000, term_days=365)])
        ledger.append([issued(CODE_B, max_devices=2)])
    writer = start(BUSY_WRITER, path, CODE_SEAT)
    wait_ready([writer])
    reports = []
    try:
        with Ledger.open(path, read_only=True) as reader:
            for _ in range(25):
                # Blocks reach devices that do not name them: their statuses are in the
                # projection too, and verify must read them in the same state as the log.
                reports.append(reader.verify())
    finally:
        assert writer.stdin is not None
        writer.stdin.write("stop\n")
        writer.stdin.flush()
        out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    assert int(out.split()[-1]) > 0
    assert [(r.ok, r.problem) for r in reports] == [(True, None)] * len(reports)
    seen = [r.events for r in reports]
    assert seen == sorted(seen) and seen[-1] > seen[0]  # the log grew while it was verified

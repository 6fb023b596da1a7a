"""The service with several workers and group commit, under concurrent appends and kills.

Real processes: ``serve(..., workers=N)`` in a subprocess (tests/live_service.py),
clients in threads and processes. What is checked is what was answered:
every accepted request's events stored exactly once, with the results replay
gives; every refused request stored nothing; a SIGKILL loses nothing that
was acknowledged.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from license_ledger.engine.codes import seal_code
from license_ledger.engine.queries import seats
from license_ledger.ledger import Ledger
from license_ledger.service.tokens import new_token
from live_service import start_service
from stores import CODE_A, CODE_B, at, issued, registered
from test_store_processes import check_seats_and_replay, finish, go, start, wait_ready

# One CodeEntered through the service, by many devices at once.
RACER = r"""
import json, sys, httpx
url, token, device, code = sys.argv[1:5]
client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
client.get("/health")
print("ready", flush=True)
sys.stdin.readline()
answer = client.post(f"/devices/{device}/codes", json={"code": code})
print(json.dumps([answer.status_code, answer.json()]))
"""

# Appends groups of batches with the library's own group commit, one refused in each group.
GROUPER = r"""
import json, sys
from license_ledger.errors import InputRefused
from license_ledger.ledger import Ledger
path, name, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
ledger = Ledger.open(path)
print("ready", flush=True)
sys.stdin.readline()
told = []
for r in range(rounds):
    batches = [
        [{"type": "DeviceRegistered", "device": f"{name}-{r}", "app_version": "21.3", "id": f"{name}-{r}-reg"},
         {"type": "AppUpdated", "device": f"{name}-{r}", "app_version": "22.0", "id": f"{name}-{r}-upd"}],
        [{"type": "AppUpdated", "device": f"{name}-{r}", "app_version": "22.1", "id": f"{name}-{r}-bad"},
         {"type": "TryAgainClicked", "device": f"{name}-nobody", "id": f"{name}-{r}-bad2"}],
        [{"type": "ConsoleConnectionChanged", "device": f"{name}-{r}", "connected": True, "id": f"{name}-{r}-con"}],
    ]
    for batch, answer in zip(batches, ledger.append_many(batches)):
        if isinstance(answer, InputRefused):
            told.append([[e["id"] for e in batch], None])
        else:
            told.append([[e["id"] for e in batch], [a.seq for a in answer]])
print(json.dumps(told))
"""


def _tokens(folder: Path) -> tuple[Path, str]:
    path = folder / "tokens.json"
    return path, new_token(path, "admin")


def test_workers_race_for_the_last_seat(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    tokens_path, admin = _tokens(tmp_path)
    racers = [f"racer-{n}" for n in range(10)]
    with Ledger.open(db) as ledger:
        ledger.append(
            [
                issued(CODE_A, max_devices=3, term_days=36_500, at=at(0)),
                *[registered(d, at=at(0)) for d in ["desk-1", "desk-2", *racers]],
                {"type": "CodeEntered", "device": "desk-1", "code": CODE_A, "at": at(1)},
                {"type": "CodeEntered", "device": "desk-2", "code": CODE_A, "at": at(1)},
            ]
        )
    service = start_service(db, tokens_path, tick_every=0, workers=3)
    try:
        children = [start(RACER, service.url, admin, device, CODE_A) for device in racers]
        wait_ready(children)
        go(children)
        answers = {device: finish(child) for device, child in zip(racers, children, strict=True)}
    finally:
        assert service.stop(), service.log_text()
    assert all(status == 200 for status, _ in answers.values()), answers
    winners = [d for d, (_, a) in answers.items() if a["result"] == "activated"]
    assert len(winners) == 1
    for device, (_, answer) in answers.items():
        if device not in winners:
            assert (answer["result"], answer["reason"]) == ("rejected", "device_limit_reached")
            assert answer["detail"] == {"max_devices": 3, "held_by": sorted(["desk-1", "desk-2", *winners])}
    assert sorted(a["seq"] for _, a in answers.values()) == list(range(16, 26))
    with Ledger.open(db) as ledger:
        assert seats(ledger.world()) == {seal_code(CODE_A).sha256: (3, 3)}
        check_seats_and_replay(ledger)


def _post(client: httpx.Client, body: list[dict[str, Any]]) -> tuple[int, Any]:
    response = client.post("/events", json=body)
    return response.status_code, response.json()


def test_threads_and_processes_append_at_once_and_a_refused_batch_disturbs_no_neighbour(
    tmp_path: Path,
) -> None:
    db = tmp_path / "ledger.db"
    tokens_path, admin = _tokens(tmp_path)
    with Ledger.open(db) as ledger:
        ledger.append([issued(CODE_B, max_devices=5, term_days=36_500)])
    service = start_service(db, tokens_path, tick_every=0, workers=2)
    told: list[tuple[list[str], list[int] | None]] = []
    lock = threading.Lock()

    def client_thread(name: str) -> None:
        rng = random.Random(name)
        with service.client(admin) as client:
            for r in range(12):
                device = f"{name}-{r}"
                if rng.random() < 0.3:  # refused on its second event: nothing of it may be stored
                    batch = [
                        {
                            "type": "DeviceRegistered",
                            "device": device,
                            "app_version": "21.3",
                            "id": f"{device}-x",
                        },
                        {
                            "type": "AppUpdated",
                            "device": f"{device}-never",
                            "app_version": "1",
                            "id": f"{device}-y",
                        },
                    ]
                    status, answer = _post(client, batch)
                    assert status == 422 and answer["line"] == 2, answer
                    with lock:
                        told.append(([f"{device}-x", f"{device}-y"], None))
                    continue
                batch = [
                    {
                        "type": "DeviceRegistered",
                        "device": device,
                        "app_version": "21.3",
                        "id": f"{device}-reg",
                    },
                    {"type": "CodeEntered", "device": device, "code": CODE_B, "id": f"{device}-code"},
                ]
                status, answer = _post(client, batch)
                assert status == 200, answer
                with lock:
                    told.append(([e["id"] for e in batch], [a["seq"] for a in answer]))

    groupers = [start(GROUPER, db, f"proc{n}", 8) for n in range(2)]
    wait_ready(groupers)
    threads = [threading.Thread(target=client_thread, args=(f"thread{n}",)) for n in range(12)]
    try:
        go(groupers)
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for grouper in groupers:
            told += [(ids, seqs) for ids, seqs in finish(grouper)]
    finally:
        assert service.stop(), service.log_text()
    assert "group commit:" in service.log_text()

    with Ledger.open(db) as ledger:
        rows = ledger.events()
        by_key = Counter(row.idempotency_key for row in rows if row.idempotency_key is not None)
        seq_of = {row.idempotency_key: row.seq for row in rows}
        for ids, seqs in told:
            if seqs is None:
                assert all(key not in by_key for key in ids), ids
            else:
                assert [seq_of[key] for key in ids] == seqs
                assert all(by_key[key] == 1 for key in ids)
        accepted = sum(len(ids) for ids, seqs in told if seqs is not None)
        assert len(rows) == 1 + accepted
        # Five seats for 12 threads' devices: taken in the order of the log, then refused.
        results = Counter(row.result for row in rows if row.type == "CodeEntered")
        assert results["activated"] == 5
        check_seats_and_replay(ledger)


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listed:
        return [int(child) for child in listed.read().split()]


def test_a_sigkill_during_group_commits_loses_nothing_acknowledged(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    tokens_path, admin = _tokens(tmp_path)
    with Ledger.open(db) as ledger:
        ledger.append([registered(f"kill-{n}") for n in range(16)])
    service = start_service(db, tokens_path, tick_every=0, workers=2)
    acknowledged: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def presser(n: int) -> None:
        with service.client(admin) as client:
            k = 0
            while not stop.is_set():
                key = f"kill-{n}-{k}"
                try:
                    response = client.post(f"/devices/kill-{n}/try-again", json={"id": key})
                except httpx.TransportError:
                    return  # killed meanwhile: this one was not acknowledged
                assert response.status_code == 200, response.text
                with lock:
                    acknowledged[key] = response.json()["seq"]
                k += 1

    threads = [threading.Thread(target=presser, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    while len(acknowledged) < 300:
        time.sleep(0.01)
    time.sleep(random.uniform(0, 0.2))
    victims = [service.process.pid, *_children(service.process.pid)]
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    service.process.wait()
    stop.set()
    for thread in threads:
        thread.join()
    deadline = time.monotonic() + 30  # the workers' own end: they watch their parent
    while any(os.path.exists(f"/proc/{pid}") for pid in victims) and time.monotonic() < deadline:
        time.sleep(0.05)

    with Ledger.open(db) as ledger:
        report = ledger.verify()
        assert (report.ok, report.problem) == (True, None)
        rows = {row.idempotency_key: row for row in ledger.events() if row.idempotency_key is not None}
        assert all(key in rows and rows[key].seq == seq for key, seq in acknowledged.items())
        assert all(rows[key].type == "TryAgainClicked" for key in acknowledged)
        check_seats_and_replay(ledger)
        # The file takes appends again.
        [after] = ledger.append([registered("after-the-kill")])
        assert after.seq == report.events + 1
    assert json.dumps(sorted(acknowledged.values())) == json.dumps(sorted(set(acknowledged.values())))


def test_a_store_that_fails_before_the_group_is_taken_fails_the_requests_waiting(tmp_path: Path) -> None:
    import asyncio

    from license_ledger.errors import DamagedLedger
    from license_ledger.service.committer import GroupCommitter

    class Broken:
        def append_many(self, batches: Any) -> Any:
            raise DamagedLedger("the file is damaged (disk I/O error)")

    async def main() -> list[BaseException | Any]:
        committer = GroupCommitter(lambda: Broken(), asyncio.Lock())  # type: ignore[arg-type, return-value]
        return await asyncio.gather(*(committer.append([{"n": n}]) for n in range(5)), return_exceptions=True)

    answers = asyncio.run(main())
    assert [type(a) for a in answers] == [DamagedLedger] * 5

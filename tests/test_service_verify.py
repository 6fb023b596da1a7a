"""``GET /verify`` runs beside the other requests, one at a time per process.

With Litestar's TestClient (the replay is held up on purpose, which needs the
app in this process), and over real HTTP for the replay on its own connection.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from license_ledger.service import runtime as service_runtime
from license_ledger.service.app import create_app
from license_ledger.service.tokens import new_token
from live_service import start_service


@pytest.fixture
def held_verify(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Make the verify replay wait until released; yield (started, release)."""
    started, release = threading.Event(), threading.Event()
    real = service_runtime._verify_file

    def slow(path: Path) -> Any:
        started.set()
        assert release.wait(20), "the test never released the verify"
        return real(path)

    monkeypatch.setattr(service_runtime, "_verify_file", slow)
    yield started, release
    release.set()


def test_a_running_verify_holds_up_nothing_and_a_second_one_is_429(
    tmp_path: Path, held_verify: tuple[threading.Event, threading.Event]
) -> None:
    started, release = held_verify
    tokens = tmp_path / "tokens.json"
    auditor, admin = new_token(tokens, "auditor"), new_token(tokens, "admin")
    app = create_app(tmp_path / "ledger.db", tokens, tick_every=0)
    with TestClient(app) as client, ThreadPoolExecutor(1) as pool:
        headers = {"Authorization": f"Bearer {auditor}"}
        writer = {"Authorization": f"Bearer {admin}"}
        first = pool.submit(client.get, "/verify", headers=headers)
        assert started.wait(10)
        # Meanwhile: the other requests are answered (verify holds no lock they need) ...
        appended = client.post(
            "/events", json={"type": "DeviceRegistered", "device": "v1", "app_version": "1"}, headers=writer
        )
        assert appended.status_code == 200, appended.text
        assert client.get("/devices/v1/status", headers=headers).json()["state"] == "unlicensed"
        # ... but not a second verify.
        second = client.get("/verify", headers=headers)
        assert second.status_code == 429
        assert second.headers["retry-after"] == "1"
        assert second.json() == {
            "error": "busy",
            "message": "expected one verify at a time, found one already running; ask again later",
            "stored": False,
        }
        release.set()
        report = first.result(timeout=20)
        assert report.status_code == 200 and report.json()["ok"] is True
        # Done: the next verify runs (and sees what was appended meanwhile).
        assert client.get("/verify", headers=headers).json()["head_seq"] == 1


def test_verify_reads_the_file_on_its_own_connection_while_appends_go_on(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    auditor, admin = new_token(tokens, "auditor"), new_token(tokens, "admin")
    server = start_service(tmp_path / "ledger.db", tokens, tick_every=0)
    try:
        with server.client(admin) as writer:
            for start in (0, 1000):
                batch = [
                    {
                        "type": "DeviceRegistered",
                        "device": f"w{n}",
                        "app_version": "1",
                        "at": "2020-01-01T00:00:00Z",
                    }
                    for n in range(start, start + 1000)
                ]
                assert writer.post("/events", json=batch).status_code == 200

        def verify() -> list[int]:
            with server.client(auditor) as reader:
                return [reader.get("/verify").status_code for _ in range(5)]

        def append() -> list[int]:
            with server.client(admin) as writer:
                return [
                    writer.post(
                        "/events", json={"type": "AppUpdated", "device": f"w{n}", "app_version": "2"}
                    ).status_code
                    for n in range(40)
                ]

        with ThreadPoolExecutor(3) as pool:
            verifies = [pool.submit(verify), pool.submit(verify)]
            appends = pool.submit(append)
            statuses = [s for job in verifies for s in job.result()]
            assert appends.result() == [200] * 40
        assert set(statuses) <= {200, 429} and 200 in statuses
        with server.client(auditor) as reader:
            report = reader.get("/verify").json()
        assert report["ok"] is True and report["head_seq"] == 2040, report
    finally:
        assert server.stop(), server.log_text()


def test_verify_on_its_own_connection_sees_a_row_altered_behind_the_service(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    auditor = {"Authorization": f"Bearer {new_token(tokens, 'auditor')}"}
    admin = {"Authorization": f"Bearer {new_token(tokens, 'admin')}"}
    app = create_app(tmp_path / "ledger.db", tokens, tick_every=0)
    with TestClient(app) as client:
        batch = [{"type": "DeviceRegistered", "device": f"v{n}", "app_version": "1"} for n in range(5)]
        assert client.post("/events", json=batch, headers=admin).status_code == 200
        assert client.get("/verify", headers=auditor).json()["ok"] is True
        other = sqlite3.connect(tmp_path / "ledger.db")
        try:
            for (name,) in other.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
                other.execute(f"DROP TRIGGER {name}")
            other.execute("UPDATE events SET payload = replace(payload, '\"v2\"', '\"v9\"') WHERE seq = 3")
            other.commit()
        finally:
            other.close()
        report = client.get("/verify", headers=auditor).json()
    assert (report["ok"], report["first_bad_seq"]) == (False, 3), report

"""Helpers for the inspector's tests: a demo ledger, `license-ledger inspect` in a subprocess, signing in.

The inspector runs with ``-W error``, like the service in ``live_service.py``:
a warning at startup, per page or at shutdown stops it and fails the test.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from license_ledger.cli import demo
from license_ledger.ledger import Ledger
from live_service import free_port

_CSRF = re.compile(r'name="_csrf_token" value="([0-9a-f]+)"')


def demo_ledger(path: Path) -> Path:
    """The demo's story in a ledger file at ``path``, closed (no -wal left beside it)."""
    with Ledger.open(path) as ledger:
        demo.run(ledger)
    return path


@dataclass
class Inspector:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.log.read_text()


def start_inspector(db: Path, *extra: str, attempts: int = 3) -> Inspector:
    """``license-ledger inspect --db DB --port P *extra`` on a free port; returns once / answers."""
    last = ""
    for _ in range(attempts):
        port = free_port()
        log = db.parent / f"inspect-{port}.log"
        command = [sys.executable, "-W", "error", "-m", "license_ledger.cli", "inspect", "--db", str(db)]
        command += ["--port", str(port), *extra]
        with log.open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        inspector = Inspector(f"http://127.0.0.1:{port}", process, log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{inspector.url}/sign-in", timeout=1).status_code in (200, 303):
                    return inspector
            except httpx.TransportError:
                time.sleep(0.05)
        last = inspector.stop()
        if "address already in use" not in last.lower():
            break
    raise RuntimeError(f"the inspector did not start:\n{last}")


def csrf_of(page: str) -> str:
    match = _CSRF.search(page)
    assert match is not None, "the page has no CSRF field"
    return match.group(1)


def sign_in(client: httpx.Client, root: str, token: str, next_page: str | None = None) -> httpx.Response:
    """Sign in through the form as a browser would: fetch it (CSRF cookie and field), post it."""
    form = client.get(f"{root}/sign-in")
    assert form.status_code == 200, form.text
    data = {"_csrf_token": csrf_of(form.text), "token": token, "next": next_page or f"{root}/"}
    return client.post(f"{root}/sign-in", data=data)

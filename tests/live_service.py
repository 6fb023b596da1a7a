"""Run the real service (uvicorn, in a subprocess) for tests that talk HTTP to it.

The server runs with ``-W error``: a warning from uvicorn, Litestar or the
library at startup, per request or at shutdown stops it, and the test that
started it fails.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

_LAUNCH = "import json, sys; from license_ledger.service.app import serve; serve(**json.loads(sys.argv[1]))"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """A running service: its URL, its process and the file its standard error goes to."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        # Plain HTTP on loopback: verify=False only skips loading the CA bundle (~35 ms a client).
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, verify=False)

    def log_text(self) -> str:
        return self.log.read_text()

    def access_log(self) -> list[dict[str, Any]]:
        """The access log lines written so far (one JSON object per request)."""
        return [json.loads(line) for line in self.log_text().splitlines() if line.startswith("{")]

    def stop(self) -> bool:
        """Stop the server as an operator would (SIGTERM); whether it shut down cleanly.

        Uvicorn finishes the requests in flight, runs the app's shutdown (the
        ticker stops, the ledger closes), then ends by the signal it caught.
        """
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        log = self.log_text()
        return (
            self.process.returncode in (0, -signal.SIGTERM)
            and "Application shutdown complete." in log
            and "Traceback" not in log
        )


def start_service(
    db: Path, tokens: Path | None, *, attempts: int = 3, cli: tuple[str, ...] | None = None, **options: Any
) -> Service:
    """Start ``serve(db, tokens=..., **options)`` on a free port; return once /health answers.

    With ``cli``, start ``license-ledger serve`` with those extra options instead.
    """
    last = ""
    for attempt in range(attempts):
        port = free_port()
        log = db.parent / f"{db.stem}-{port}.log"
        arguments = {"db": str(db), "host": "127.0.0.1", "port": port, **options}
        if tokens is not None:
            arguments["tokens"] = str(tokens)
        command = [sys.executable, "-W", "error", "-c", _LAUNCH, json.dumps(arguments)]
        if cli is not None:
            command = [
                sys.executable,
                "-m",
                "license_ledger.cli",
                "serve",
                "--db",
                str(db),
                "--port",
                str(port),
            ]
            command += ["--tokens", str(tokens)] if tokens is not None else ["--insecure-no-auth"]
            command += list(cli)
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        service = Service(f"http://127.0.0.1:{port}", process, log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{service.url}/health", timeout=1, verify=False).status_code == 200:
                    return service
            except httpx.TransportError:
                time.sleep(0.05)
        service.stop()
        last = service.log_text()
        if "address already in use" not in last.lower() or attempt == attempts - 1:
            break
    raise RuntimeError(f"the service did not start:\n{last}")

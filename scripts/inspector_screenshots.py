"""Screenshots of the inspector over the demo's story, for the docs (docs/inspect-*.png).

Builds the demo in a temporary folder, runs ``license-ledger inspect`` on it,
and photographs the overview and a device page with the system's Chromium
(Playwright's test extra; ``LICENSE_LEDGER_CHROMIUM`` to use another).

    python scripts/inspector_screenshots.py
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("LICENSE_LEDGER_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
SHOTS = {
    "inspect-overview.png": ("/", 1280, 860),
    "inspect-device.png": ("/devices/kids-tablet?as_of=2025-06-02T12:00:00Z", 1280, 1000),
}


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "demo.db"
        cli = [sys.executable, "-m", "license_ledger.cli"]
        subprocess.run([*cli, "demo", "--db", str(db)], check=True, capture_output=True)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = subprocess.Popen(
            [*cli, "inspect", "--db", str(db), "--port", str(port)], stdout=subprocess.DEVNULL
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(base + "/", timeout=1)
                    break
                except OSError:
                    time.sleep(0.05)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                for name, (path, width, height) in SHOTS.items():
                    page = browser.new_page(viewport={"width": width, "height": height})
                    page.goto(base + path)
                    page.screenshot(path=str(ROOT / "docs" / name))
                    print(f"docs/{name}")
                browser.close()
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()

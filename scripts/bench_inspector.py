"""Time the inspector's pages on the server: a device with 1,000 events, in a log of many more.

Builds a ledger of ``--events`` generated events (``workload.py``) and then
one busy device with 1,000 events of its own (entries refused for want of a
seat, with their details; Try again clicks; updates), opens it as
``license-ledger inspect`` does (read-only) and asks for its pages in
process, without a network between (Litestar's test client): what is timed
is the server's work, from the request to the last byte of HTML: wall time
(which a busy machine inflates) and the process's CPU time per request.
Prints a table (or JSON with --json). See docs/performance.md.

    python scripts/bench_inspector.py                  # 100,000 background events
    python scripts/bench_inspector.py --events 10000   # a quicker look
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from litestar.testing import TestClient  # noqa: E402

from license_ledger.engine.moments import format_time  # noqa: E402
from license_ledger.ledger import Ledger  # noqa: E402
from license_ledger.service.inspector import create_inspector_app  # noqa: E402
from workload import generate  # noqa: E402

BUSY = "busy-device"
BUSY_EVENTS = 1_000
SAMPLES = 30


def build(path: Path, background: int) -> str:
    """The ledger at ``path``; returns the moment halfway through the busy device's story."""
    with Ledger.open(path, synchronous="NORMAL") as ledger:
        events = generate(background)
        for i in range(0, len(events), 1_000):
            ledger.append(events[i : i + 1_000])
        start = (ledger.world().last_at or events[-1].at) + timedelta(days=1)  # type: ignore[operator]

        def at(minutes: int) -> str:
            return format_time(start + timedelta(minutes=minutes))

        seat = "BENCH-SEATS-HELD0-00001"
        story: list[dict[str, Any]] = [
            {
                "type": "CodeIssued",
                "at": at(0),
                "code": seat,
                "kind": "commercial",
                "term_days": 3650,
                "max_devices": 1,
            },
            {"type": "DeviceRegistered", "at": at(0), "device": "seat-holder", "app_version": "22.1"},
            {"type": "CodeEntered", "at": at(0), "device": "seat-holder", "code": seat},
            {"type": "DeviceRegistered", "at": at(1), "device": BUSY, "app_version": "22.1"},
        ]
        n = 1
        while n < BUSY_EVENTS:
            n += 1
            kind = n % 3
            if kind == 0:
                story.append({"type": "CodeEntered", "at": at(n), "device": BUSY, "code": seat})
            elif kind == 1:
                story.append({"type": "TryAgainClicked", "at": at(n), "device": BUSY})
            else:
                story.append({"type": "AppUpdated", "at": at(n), "device": BUSY, "app_version": f"22.{n}"})
        ledger.append(story)
        assert len(ledger.trace(BUSY)) == BUSY_EVENTS
        return at(BUSY_EVENTS // 2)


def timed(client: TestClient[Any], path: str, samples: int = SAMPLES) -> dict[str, float]:
    """Wall time per request (median, p95, max) and CPU time per request (the whole process, mean)."""
    times = []
    cpu = time.process_time()
    for _ in range(samples):
        started = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    cpu = (time.process_time() - cpu) / samples * 1000
    times.sort()
    return {
        "cpu_ms": round(cpu, 1),
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
        "max_ms": round(times[-1], 1),
        "bytes": len(answer.content),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000, help="background events (default 100,000)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        middle = build(path, args.events)
        with TestClient(app=create_inspector_app(path)) as client:
            started = time.perf_counter()
            assert client.get("/").status_code == 200
            first_overview = round((time.perf_counter() - started) * 1000, 1)
            figures = {
                "background_events": args.events,
                "device_events": BUSY_EVENTS,
                "device page, now": timed(client, f"/devices/{BUSY}"),
                "device page, as of a moment halfway": timed(client, f"/devices/{BUSY}?as_of={middle}"),
                "event page": timed(client, f"/events/{args.events + 2}"),
                "overview, first (replays the log, counts results)": {"median_ms": first_overview},
                "overview, after": timed(client, "/", samples=10),
            }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{args.events:,} background events; {BUSY} has {BUSY_EVENTS:,} events")
    for name, value in figures.items():
        if isinstance(value, dict):
            shown = ", ".join(f"{key} {number}" for key, number in value.items())
            print(f"  {name}: {shown}")


if __name__ == "__main__":
    main()

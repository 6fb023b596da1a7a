"""Forensic figures for ``scripts/bench.py``: diff, first, devices and what-if on the benchmark's file.

``diff`` and ``first`` per device (p50 / p99 over a sample), ``devices
--state`` now and as of a past moment (best of three), and ``what-if`` with
one change (a device registered that the log never had: it keeps the log
valid) in the last 1 % of the log and at its start.
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path

from license_ledger.engine.events import AnyEvent
from license_ledger.ledger import Ledger

SAMPLES = 200

__all__ = ["bench_forensics", "rows"]


def _percentiles(timings: list[float], label: str) -> dict[str, float]:
    timings.sort()
    return {
        f"{label}_p50_ms": statistics.median(timings) * 1e3,
        f"{label}_p99_ms": timings[int(len(timings) * 0.99)] * 1e3,
    }


def _best(seconds: list[float]) -> float:
    return min(seconds)


def bench_forensics(path: Path, events: list[AnyEvent]) -> dict[str, float]:
    rng = random.Random(11)
    n = len(events)
    quarter, middle, late = events[n // 4].at, events[n // 2].at, events[3 * n // 4].at
    assert quarter is not None and middle is not None and late is not None
    figures: dict[str, float] = {}
    with Ledger.open(path, read_only=True) as ledger:
        registered = sorted({e.device for e in events[: n // 4] if type(e).__name__ == "DeviceRegistered"})  # type: ignore[attr-defined]
        sample = rng.choices(registered, k=SAMPLES)
        diffs, firsts = [], []
        for device in sample:
            started = time.perf_counter()
            ledger.diff(device, quarter, late)
            diffs.append(time.perf_counter() - started)
            started = time.perf_counter()
            ledger.first(device, state="expired")
            firsts.append(time.perf_counter() - started)
        figures.update(_percentiles(diffs, "diff"))
        figures.update(_percentiles(firsts, "first"))
        for label, as_of in (("now", None), ("as_of", middle)):
            seconds = []
            for _ in range(3):
                started = time.perf_counter()
                found = ledger.devices("expired", as_of)
                seconds.append(time.perf_counter() - started)
            figures[f"devices_{label}_s"] = _best(seconds)
            figures[f"devices_{label}_found"] = len(found)
        probe = {"type": "DeviceRegistered", "device": "what-if-probe", "app_version": "1.0"}
        for label, after in (("tail", n - n // 100), ("start", 0)):
            at = events[max(after - 1, 0)].at
            assert at is not None
            started = time.perf_counter()
            report = ledger.what_if(insert={after: [{**probe, "at": at.isoformat()}]})
            figures[f"what_if_{label}_s"] = time.perf_counter() - started
            assert report.first_divergence is None, "a device nobody names changes no result"
    return figures


def rows(report: dict[str, float]) -> list[tuple[str, str, str, str]]:
    """The lines bench.py prints for these figures."""
    replay_s = float(report["events"]) / float(report["replay_eps"])
    return [
        (
            "diff, p50 / p99",
            f"{report['diff_p50_ms']:.1f} / {report['diff_p99_ms']:.1f} ms",
            "",
            "target < 50 ms",
        ),
        (
            "first --state, p50 / p99",
            f"{report['first_p50_ms']:.1f} / {report['first_p99_ms']:.1f} ms",
            "",
            "target < 50 ms",
        ),
        (
            "devices --state, now",
            f"{report['devices_now_s']:.2f} s",
            f"{report['devices_now_found']:,.0f} found",
            "",
        ),
        (
            "devices --state, as of the middle",
            f"{report['devices_as_of_s']:.2f} s",
            f"{report['devices_as_of_found']:,.0f} found",
            "target < 2 s",
        ),
        ("what-if, a change in the last 1%", f"{report['what_if_tail_s']:.2f} s", "", "target < 1 s"),
        (
            "what-if, a change at the start",
            f"{report['what_if_start_s']:.1f} s",
            f"replay from scratch {replay_s:.1f} s",
            f"{report['what_if_start_s'] / replay_s:.2f}x replay",
        ),
    ]

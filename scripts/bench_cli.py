"""The figures a user meets through the command line, beside raw baselines of the same run.

Every command runs as a user runs it: a new process, its default output
(to a pipe, as in a script or a log; rich then draws 120 columns), on a
JSON-lines file of the generated workload. The baselines are what the
machine does without license-ledger, on the same lines and in the same
run, interleaved with the commands so that noise hits both alike; each
figure is the best of ``repeat`` runs. Used by ``scripts/bench.py``.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from license_ledger.engine.events import AnyEvent  # noqa: E402

_CLI = [sys.executable, "-m", "license_ledger.cli"]


def fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def command(*args: str, check: bool = True) -> float:
    """Seconds a ``license-ledger`` command takes, its output going to a pipe that is read."""
    started = time.perf_counter()
    subprocess.run([*_CLI, *args], check=check, capture_output=True)
    return time.perf_counter() - started


def raw_insert(lines_path: Path, db: Path) -> float:
    """The raw limit of an append: the same lines, ``executemany`` into a bare WAL table, one transaction."""
    fresh(db)
    started = time.perf_counter()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
    with lines_path.open("rb") as file:
        rows = [(n, line.rstrip(b"\n").decode()) for n, line in enumerate(file, start=1)]
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO events (seq, payload) VALUES (?, ?)", rows)
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - started


def raw_read(db: Path) -> float:
    """The raw limit of a replay: the stored payloads read back with sqlite3, each decoded by msgspec."""
    decoder = msgspec.json.Decoder(AnyEvent)
    started = time.perf_counter()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    for (payload,) in conn.execute("SELECT payload FROM events ORDER BY seq"):
        decoder.decode(payload)
    conn.close()
    return time.perf_counter() - started


def best(runs: dict[str, list[float]], name: str, action: Callable[[], float]) -> None:
    runs.setdefault(name, []).append(action())


def bench_cli(lines_path: Path, folder: Path, repeat: int = 3) -> dict[str, float]:
    """Every figure of the command-line table (seconds, bytes and ratios)."""
    db = folder / "cli.db"
    raw_db = folder / "raw.db"
    runs: dict[str, list[float]] = {}
    for _ in range(repeat):
        best(runs, "cli_append_raw_s", lambda: raw_insert(lines_path, raw_db))
        best(runs, "cli_append_s", lambda: command("append", str(lines_path), "--db", str(fresh(db))))
        best(runs, "cli_append_raw_s", lambda: raw_insert(lines_path, raw_db))
        best(
            runs,
            "cli_append_json_s",
            lambda: command("append", str(lines_path), "--json", "--db", str(fresh(db))),
        )
    for _ in range(repeat):
        best(runs, "cli_startup_s", lambda: command("--version"))
        best(runs, "cli_replay_raw_s", lambda: raw_read(db))
        best(runs, "cli_replay_json_s", lambda: command("replay", "--json", "--db", str(db)))
        best(runs, "cli_verify_s", lambda: command("verify", "--db", str(db)))
    export = folder / "export.jsonl"
    best(runs, "cli_export_s", lambda: command("export", "--db", str(db), "-o", str(export)))
    figures = {name: min(times) for name, times in runs.items()}
    startup = figures["cli_startup_s"]
    figures["cli_replay_json_net_s"] = figures["cli_replay_json_s"] - startup
    figures["cli_verify_net_s"] = figures["cli_verify_s"] - startup
    figures["cli_append_ratio"] = figures["cli_append_s"] / figures["cli_append_raw_s"]
    figures["cli_append_json_ratio"] = figures["cli_append_json_s"] / figures["cli_append_raw_s"]
    figures["cli_replay_ratio"] = figures["cli_replay_json_net_s"] / figures["cli_replay_raw_s"]
    figures["cli_verify_ratio"] = figures["cli_verify_net_s"] / figures["cli_replay_json_net_s"]
    figures["cli_db_bytes"] = db.stat().st_size
    figures["cli_export_bytes"] = export.stat().st_size
    figures["cli_size_ratio"] = figures["cli_db_bytes"] / figures["cli_export_bytes"]
    return figures


def cli_rows(f: dict[str, float]) -> list[tuple[str, str, str, str, str]]:
    """The command-line table: what, figure, raw baseline, ratio, goal."""
    mb = 1_000_000
    return [
        (
            "license-ledger append log.jsonl (default output)",
            f"{f['cli_append_s']:.2f} s",
            f"sqlite3 executemany of the same lines, bare WAL table, one transaction: {f['cli_append_raw_s']:.2f} s",
            f"{f['cli_append_ratio']:.2f}x",
            "<= 4x",
        ),
        (
            "the same with --json",
            f"{f['cli_append_json_s']:.2f} s",
            "",
            f"{f['cli_append_json_ratio']:.2f}x",
            "<= 4x",
        ),
        (
            "license-ledger replay --json (start-up subtracted)",
            f"{f['cli_replay_json_net_s']:.2f} s",
            f"sqlite3 read + msgspec decode of the same JSON: {f['cli_replay_raw_s']:.2f} s",
            f"{f['cli_replay_ratio']:.2f}x",
            "<= 2x",
        ),
        (
            "license-ledger verify (start-up subtracted)",
            f"{f['cli_verify_net_s']:.2f} s",
            "",
            f"{f['cli_verify_ratio']:.2f}x replay",
            "<= 1.5x replay",
        ),
        (
            "file size",
            f"{f['cli_db_bytes'] / mb:.1f} MB",
            f"the JSON-lines export: {f['cli_export_bytes'] / mb:.1f} MB",
            f"{f['cli_size_ratio']:.2f}x",
            "<= 2x",
        ),
        ("start-up (license-ledger --version)", f"{f['cli_startup_s']:.2f} s", "", "", ""),
        ("license-ledger export", f"{f['cli_export_s']:.2f} s", "", "", ""),
    ]

"""Benchmark license-ledger against the raw limit of the same machine, in one run.

Also the forensic questions on the same file (``scripts/bench_forensics.py``).

Absolute figures drift on a shared machine; the ratios against a raw
baseline measured in the same run are what to compare. Prints two tables
(the command line as a user meets it, then the library), or a JSON object
with --json. See docs/performance.md.

    python scripts/bench.py                   # 166,041 events over ~30,000 devices, ~3 min
    python scripts/bench.py --events 1000000  # a bigger log
    python scripts/bench.py --events 100000 --db postgresql://postgres@127.0.0.1:5432/test

With ``--db postgresql://...`` it measures the PostgreSQL backend instead, in
schemas of its own (created and dropped by the run), beside raw psycopg into
the same server: COPY into a bare table, and reading and decoding the same rows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from bench_cli import bench_cli, cli_rows  # noqa: E402
from bench_forensics import bench_forensics  # noqa: E402
from bench_forensics import rows as forensic_rows  # noqa: E402
from license_ledger.engine.codec import encode  # noqa: E402
from license_ledger.engine.events import AnyEvent  # noqa: E402
from license_ledger.engine.moments import format_time  # noqa: E402
from license_ledger.errors import UnknownDevice  # noqa: E402
from license_ledger.ledger import Ledger  # noqa: E402
from license_ledger.store.sqlite import SQLiteBackend  # noqa: E402
from workload import generate  # noqa: E402

BATCH = 1_000
SINGLE_SAMPLE = 2_000
STATUS_SAMPLES = 2_000
_PRAGMAS = ("PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL", "PRAGMA cache_size = -65536")


def fresh(folder: Path, name: str) -> Path:
    path = folder / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def bench_append(events: list[AnyEvent], folder: Path) -> tuple[Path, dict[str, float]]:
    path = fresh(folder, "ledger.db")
    started = time.perf_counter()
    with Ledger.open(path) as ledger:
        for i in range(0, len(events), BATCH):
            ledger.append(events[i : i + BATCH])
    batched = time.perf_counter() - started

    single_path = fresh(folder, "single.db")
    sample = events[:SINGLE_SAMPLE]
    started = time.perf_counter()
    with Ledger.open(single_path) as ledger:
        for event in sample:
            ledger.append([event])
    single = time.perf_counter() - started

    # The raw limit: the very rows the ledger wrote, with plain executemany in
    # the same batches, once into a bare table of the same columns (no index,
    # no trigger) and once into the ledger's own schema (its indexes and
    # triggers): the second isolates what the Python side costs.
    with sqlite3.connect(path) as source:
        columns = [row[1] for row in source.execute("PRAGMA table_info(events)")]
        rows = source.execute("SELECT * FROM events ORDER BY seq").fetchall()
    bare = raw_insert(fresh(folder, "raw.db"), rows, f"CREATE TABLE events ({', '.join(columns)})")
    schema_path = fresh(folder, "raw_schema.db")
    SQLiteBackend(schema_path).close()
    same_schema = raw_insert(schema_path, rows, None)
    n = len(events)
    return path, {
        "append_batched_eps": n / batched,
        "append_raw_eps": n / bare,
        "append_ratio": batched / bare,
        "append_raw_schema_eps": n / same_schema,
        "append_schema_ratio": batched / same_schema,
        "append_single_eps": len(sample) / single,
    }


def raw_insert(path: Path, rows: list[tuple[object, ...]], create: str | None) -> float:
    """Seconds to insert ``rows`` with executemany, 1,000 per transaction."""
    raw = sqlite3.connect(path, isolation_level=None)
    for pragma in _PRAGMAS:
        raw.execute(pragma)
    if create is not None:
        raw.execute(create)
    marks = ",".join("?" * len(rows[0]))
    started = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        raw.execute("BEGIN")
        raw.executemany(f"INSERT INTO events VALUES ({marks})", rows[i : i + BATCH])
        raw.execute("COMMIT")
    elapsed = time.perf_counter() - started
    raw.close()
    return elapsed


def bench_replay(path: Path) -> dict[str, float]:
    decoder = msgspec.json.Decoder(AnyEvent)
    best_raw = best_replay = float("inf")
    for _ in range(3):  # best of three, interleaved: the machine is noisy
        started = time.perf_counter()
        conn = sqlite3.connect(path)
        count = 0
        for (payload,) in conn.execute("SELECT payload FROM events ORDER BY seq"):
            decoder.decode(payload)
            count += 1
        conn.close()
        best_raw = min(best_raw, time.perf_counter() - started)
        started = time.perf_counter()
        with Ledger.open(path, create=False) as ledger:
            summary = ledger.replay()
        best_replay = min(best_replay, time.perf_counter() - started)
    assert summary.events == count
    return {
        "replay_eps": count / best_replay,
        "replay_raw_eps": count / best_raw,
        "replay_ratio": best_replay / best_raw,
    }


def bench_status(path: Path | str, events: list[AnyEvent]) -> dict[str, float]:
    rng = random.Random(3)
    devices = sorted({d for e in events if (d := getattr(e, "device", None))})
    middle = events[len(events) // 2].at
    assert middle is not None
    figures: dict[str, float] = {}
    with Ledger.open(path, create=False) as ledger:
        for label, as_of in (("current", None), ("as_of", middle)):
            timings = []
            for device in rng.choices(devices, k=STATUS_SAMPLES):
                started = time.perf_counter()
                with contextlib.suppress(UnknownDevice):  # registered after the moment asked about
                    ledger.status(device, as_of)
                timings.append(time.perf_counter() - started)
            timings.sort()
            figures[f"status_{label}_p50_us"] = statistics.median(timings) * 1e6
            figures[f"status_{label}_p99_us"] = timings[int(len(timings) * 0.99)] * 1e6
    return figures


def bench_rebuild(path: Path, raw_eps: float) -> dict[str, float]:
    """``license-ledger rebuild`` as a user runs it: a new process, the whole projection derived anew."""
    command = [sys.executable, "-m", "license_ledger.cli", "rebuild", "--db", str(path)]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    with Ledger.open(path, read_only=True) as ledger:
        events = ledger.backend.head()[0]
    return {"rebuild_s": seconds, "rebuild_ratio": seconds / (events / raw_eps)}


def replay_peak_rss(path: Path, as_of: str | None) -> float:
    """Peak RSS (MiB) of a fresh process that replays the store.

    Read from VmHWM: ru_maxrss would carry over the (large) peak of this
    process, which forked the child before it exec'd.
    """
    code = (
        "import re, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent.parent / 'src')!r})\n"
        "from license_ledger.ledger import Ledger\n"
        f"Ledger.open({str(path)!r}, read_only=True).replay({as_of!r})\n"
        "status = open('/proc/self/status').read()\n"
        "print(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {memory:.0f} GiB, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}"
    )


# --- PostgreSQL ------------------------------------------------------------------------


def _in_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


@contextlib.contextmanager
def pg_schemas(url: str) -> Iterator[tuple[Any, Any]]:
    """A raw psycopg session, and a function that makes a fresh schema; every schema is dropped at the end."""
    import psycopg

    made: list[str] = []
    raw = psycopg.connect(url, autocommit=True)

    def fresh(name: str) -> str:
        schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
        made.append(schema)
        return schema

    try:
        yield raw, fresh
    finally:
        for schema in made:
            raw.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        raw.close()


def pg_copy(raw: Any, table: str, rows: list[tuple[object, ...]]) -> float:
    """Seconds to COPY ``rows`` into ``table``, 1,000 per transaction."""
    started = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        with raw.transaction(), raw.cursor() as cursor, cursor.copy(f"COPY {table} FROM STDIN") as copy:
            for row in rows[i : i + BATCH]:
                copy.write_row(row)
    return time.perf_counter() - started


def bench_postgres(events: list[AnyEvent], url: str) -> dict[str, float]:
    """Append, replay and status on PostgreSQL, beside raw psycopg into the same server."""
    decoder = msgspec.json.Decoder(AnyEvent)
    n = len(events)
    figures: dict[str, float] = {}
    with pg_schemas(url) as (raw, fresh):
        ledger_url = _in_schema(url, fresh("ledger"))
        started = time.perf_counter()
        with Ledger.open(ledger_url) as ledger:
            for i in range(0, n, BATCH):
                ledger.append(events[i : i + BATCH])
        batched = time.perf_counter() - started
        ledger_schema = ledger_url.rpartition("schema=")[2]

        sample = events[:SINGLE_SAMPLE]
        started = time.perf_counter()
        with Ledger.open(_in_schema(url, fresh("single"))) as ledger:
            for event in sample:
                ledger.append([event])
        single = time.perf_counter() - started

        # The raw limit: the very rows the ledger wrote, with COPY in the same batches,
        # once into a bare table of the same columns (no index, no trigger) and once into
        # the ledger's own schema (its indexes and triggers).
        rows = raw.execute(f"SELECT * FROM {ledger_schema}.events ORDER BY seq").fetchall()
        bare = fresh("raw")
        raw.execute(
            f"CREATE SCHEMA {bare}; CREATE TABLE {bare}.events (seq bigint, type text, at text, device text, "
            "idempotency_key text, schema_version integer, payload text, hash text)"
        )
        bare_s = pg_copy(raw, f"{bare}.events", rows)
        same = fresh("raw_schema")
        Ledger.open(_in_schema(url, same)).close()
        same_s = pg_copy(raw, f"{same}.events", rows)
        single_raw = fresh("raw_single")
        raw.execute(f"CREATE SCHEMA {single_raw}; CREATE TABLE {single_raw}.events (LIKE {bare}.events)")
        started = time.perf_counter()
        marks = ", ".join(["%s"] * len(rows[0]))
        for row in rows[:SINGLE_SAMPLE]:
            raw.execute(f"INSERT INTO {single_raw}.events VALUES ({marks})", row)
        single_raw_s = time.perf_counter() - started
        figures.update(
            {
                "append_batched_eps": n / batched,
                "append_raw_eps": n / bare_s,
                "append_ratio": batched / bare_s,
                "append_raw_schema_eps": n / same_s,
                "append_schema_ratio": batched / same_s,
                "append_single_eps": len(sample) / single,
                "append_single_raw_eps": len(sample) / single_raw_s,
                "append_single_ratio": single / single_raw_s,
            }
        )

        best_raw = best_replay = float("inf")
        for _ in range(3):  # best of three, interleaved: the machine is noisy
            started = time.perf_counter()
            count = 0
            with raw.transaction(), raw.cursor(name="bench_read") as cursor:
                cursor.itersize = 10_000
                cursor.execute(f"SELECT payload FROM {ledger_schema}.events ORDER BY seq")
                for (payload,) in cursor:
                    decoder.decode(payload)
                    count += 1
            best_raw = min(best_raw, time.perf_counter() - started)
            started = time.perf_counter()
            with Ledger.open(ledger_url, create=False) as ledger:
                summary = ledger.replay()
            best_replay = min(best_replay, time.perf_counter() - started)
        assert summary.events == count == n
        figures.update(
            {
                "replay_eps": count / best_replay,
                "replay_raw_eps": count / best_raw,
                "replay_ratio": best_replay / best_raw,
            }
        )
        figures.update(bench_status(ledger_url, events))
        size = raw.execute(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace s "
            "ON s.oid = c.relnamespace WHERE s.nspname = %s AND c.relkind IN ('r', 't', 'm')",
            (ledger_schema,),
        ).fetchone()[0]
        figures["db_size_mib"] = float(size) / 2**20
        figures["server_version"] = raw.info.server_version
    return figures


def print_postgres(report: dict[str, Any]) -> None:
    version = int(report["server_version"])
    print(f"machine: {report['machine']}, PostgreSQL {version // 10000}.{version % 10000}")
    print(
        f"log: {report['events']:,} events over {report['devices']:,} devices (generated in {report['generate_s']:.1f} s)"
    )
    rows = [
        (
            "append, batches of 1,000",
            f"{report['append_batched_eps']:,.0f} events/s",
            f"raw COPY into a bare table {report['append_raw_eps']:,.0f} events/s",
            f"{report['append_ratio']:.2f}x raw time",
        ),
        (
            "",
            "",
            f"same rows COPY'd into the ledger's schema {report['append_raw_schema_eps']:,.0f} events/s",
            f"{report['append_schema_ratio']:.2f}x",
        ),
        (
            "append, one event per call",
            f"{report['append_single_eps']:,.0f} events/s",
            f"raw INSERT, one row per transaction {report['append_single_raw_eps']:,.0f} events/s",
            f"{report['append_single_ratio']:.2f}x raw time",
        ),
        (
            "replay from scratch",
            f"{report['replay_eps']:,.0f} events/s",
            f"raw read+decode {report['replay_raw_eps']:,.0f} events/s",
            f"{report['replay_ratio']:.2f}x raw time",
        ),
        (
            "status now, p50 / p99",
            f"{report['status_current_p50_us']:.0f} / {report['status_current_p99_us']:.0f} us",
            "",
            "",
        ),
        (
            "status as of, p50 / p99",
            f"{report['status_as_of_p50_us']:.0f} / {report['status_as_of_p99_us']:.0f} us",
            "",
            "",
        ),
        ("schema on disk (tables, indexes, TOAST)", f"{report['db_size_mib']:.0f} MiB", "", ""),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=166_041)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each command-line figure (the best counts)"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    parser.add_argument("--dir", type=Path, help="where the database files go (default: a temporary folder)")
    parser.add_argument("--db", help="a postgresql:// URL: measure the PostgreSQL backend there instead")
    args = parser.parse_args()

    started = time.perf_counter()
    events = generate(args.events)
    devices = len({d for e in events if (d := getattr(e, "device", None))})
    report: dict[str, object] = {
        "machine": machine(),
        "events": len(events),
        "devices": devices,
        "generate_s": time.perf_counter() - started,
    }
    if args.db is not None:
        report.update(bench_postgres(events, args.db))
        report["bench_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print_postgres(report)
        return
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        lines_path = Path(tmp) / "log.jsonl"
        with lines_path.open("wb") as out:
            for event in events:
                out.write(encode(event) + b"\n")
        report.update(bench_cli(lines_path, Path(tmp), args.repeat))
        path, figures = bench_append(events, Path(tmp))
        report.update(figures)
        report.update(bench_replay(path))
        report.update(bench_status(path, events))
        report.update(bench_rebuild(path, float(report["replay_raw_eps"])))  # type: ignore[arg-type]
        report.update(bench_forensics(path, events))
        half = events[len(events) // 2].at
        assert half is not None
        report["replay_peak_rss_mib"] = replay_peak_rss(path, None)
        report["replay_half_peak_rss_mib"] = replay_peak_rss(path, format_time(half))
        report["db_size_mib"] = path.stat().st_size / 2**20
    report["bench_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"machine: {report['machine']}")
    print(
        f"log: {report['events']:,} events over {report['devices']:,} devices (generated in {report['generate_s']:.1f} s)"
    )
    print("\nthe command line (a new process per command, default output to a pipe; best of each):")
    print_table(cli_rows(report))  # type: ignore[arg-type]
    print("\nthe library:")
    rows = [
        (
            "append, batches of 1,000",
            f"{report['append_batched_eps']:,.0f} events/s",
            f"raw executemany {report['append_raw_eps']:,.0f} events/s",
            f"{report['append_ratio']:.2f}x raw time",
        ),
        (
            "",
            "",
            f"same rows into the ledger's schema {report['append_raw_schema_eps']:,.0f} events/s",
            f"{report['append_schema_ratio']:.2f}x",
        ),
        ("append, one event per call", f"{report['append_single_eps']:,.0f} events/s", "", ""),
        (
            "replay from scratch",
            f"{report['replay_eps']:,.0f} events/s",
            f"raw read+decode {report['replay_raw_eps']:,.0f} events/s",
            f"{report['replay_ratio']:.2f}x raw time",
        ),
        (
            "status now, p50 / p99",
            f"{report['status_current_p50_us']:.0f} / {report['status_current_p99_us']:.0f} us",
            "",
            "",
        ),
        (
            "status as of, p50 / p99",
            f"{report['status_as_of_p50_us']:.0f} / {report['status_as_of_p99_us']:.0f} us",
            "",
            "",
        ),
        (
            "replay peak RSS, whole / half log",
            f"{report['replay_peak_rss_mib']:.0f} / {report['replay_half_peak_rss_mib']:.0f} MiB",
            "",
            "",
        ),
        (
            "license-ledger rebuild",
            f"{report['rebuild_s']:.1f} s",
            "",
            f"{report['rebuild_ratio']:.2f}x raw read+decode",
        ),
        ("database file", f"{report['db_size_mib']:.0f} MiB", "", ""),
        *forensic_rows(report),  # type: ignore[arg-type]
    ]
    print_table(rows)


def print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


if __name__ == "__main__":
    main()

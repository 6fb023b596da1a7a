"""How fast Ledger.append writes, beside raw sqlite3 writing the very same rows, in one run.

The machine is noisy: compare the ratios, which are taken in the same run,
rather than absolute figures between runs. Every file is fresh and
temporary. The event mix is the generated workload of ``scripts/workload.py``
(registrations, activations, backups, expiries, blocks, removals...).

What is measured:

* ``Ledger.append`` with batches of 1,000 events (typed events, and the same
  events as JSON lines through ``append_lines``) and with one event per
  call, under ``synchronous=FULL`` (the default) and ``NORMAL``;
* raw ``executemany`` of the rows the ledger wrote, with the same batches:
  into the ledger's own schema (indexes and triggers) and into a bare table
  of the same columns (rowid only);
* what the rest of the store costs: ``verify``, saving a snapshot, and
  opening a big log for writing with and without its snapshot.

    python scripts/bench_append.py           # ~1 minute on 2 vCPUs
    python scripts/bench_append.py --json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from license_ledger.engine.codec import encode  # noqa: E402
from license_ledger.engine.events import AnyEvent  # noqa: E402
from license_ledger.ledger import Ledger  # noqa: E402
from license_ledger.store import audit  # noqa: E402
from license_ledger.store.sqlite import SQLiteBackend  # noqa: E402
from workload import generate  # noqa: E402

BATCH = 1_000
#: The tables a ledger writes per event (facts and projection), and their columns.
TABLES = {
    "events": "seq, type, at, device, idempotency_key, schema_version, payload, hash",
    "event_results": "seq, result, reason, detail",
    "status_after": "device, seq, state, status",
}
Row = tuple[Any, ...]


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def timed_each(action: Callable[[Any], object], items: Sequence[Any]) -> float:
    """Seconds to call ``action`` on each item in turn."""
    started = time.perf_counter()
    for item in items:
        action(item)
    return time.perf_counter() - started


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# --- raw sqlite3 beside the ledger ------------------------------------------------------


class Raw:
    """A fresh file that gets, with plain executemany, the rows a ledger wrote."""

    def __init__(self, path: Path, synchronous: str, *, schema: bool) -> None:
        if schema:
            SQLiteBackend(path).close()  # the ledger's tables, indexes and triggers
        self.conn = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode = WAL", f"synchronous = {synchronous}", "cache_size = -65536"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.conn.execute("PRAGMA wal_autocheckpoint = 10000")
        if not schema:
            for table, columns in TABLES.items():
                self.conn.execute(f"CREATE TABLE {table} ({columns})")

    def insert(self, rows: dict[str, list[Row]], per_txn: int) -> float:
        """Seconds to insert the rows of every table, ``per_txn`` events per transaction."""
        by_seq: dict[str, dict[int, list[Row]]] = {}
        for table in ("event_results", "status_after"):
            seq_at = 0 if table == "event_results" else 1
            grouped = by_seq[table] = {}
            for row in rows[table]:
                grouped.setdefault(row[seq_at], []).append(row)
        groups = [
            (batch, {t: [r for e in batch for r in by_seq[t].get(e[0], [])] for t in by_seq})
            for batch in chunks(rows["events"], per_txn)
        ]
        inserts = {
            t: f"INSERT INTO {t} ({c}) VALUES ({','.join('?' * len(c.split(',')))})"
            for t, c in TABLES.items()
        }
        conn = self.conn

        def run() -> None:
            for batch, derived in groups:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(inserts["events"], batch)
                for table, derived_rows in derived.items():
                    if derived_rows:
                        conn.executemany(inserts[table], derived_rows)
                conn.execute("COMMIT")

        return timed(run)

    def close(self) -> None:
        self.conn.close()


def compare(
    events: list[AnyEvent], per_call: int, synchronous: str, folder: Path, tag: str, *, extra: bool
) -> tuple[dict[str, float], Path]:
    """Seconds spent by the ledger and by raw sqlite3 on the same rows.

    The work is interleaved window by window (ledger, then raw on the rows it
    just wrote), so that a slow minute of a shared disk hits every contender
    alike. ``extra`` adds append_lines and the bare table.
    """
    path = folder / f"{tag}.db"
    ledger = Ledger.open(path, synchronous=synchronous)
    reader = sqlite3.connect(path)
    lines_ledger = Ledger.open(folder / f"{tag}-lines.db", synchronous=synchronous) if extra else None
    raws = {"raw_schema": Raw(folder / f"{tag}-raw.db", synchronous, schema=True)}
    if extra:
        raws["raw_bare"] = Raw(folder / f"{tag}-bare.db", synchronous, schema=False)
    spent = dict.fromkeys(["ledger", "lines", *raws], 0.0)
    head = 0
    window = 250 if per_call == 1 else per_call * 20
    for part in chunks(events, window):
        batches = chunks(part, per_call)
        spent["ledger"] += timed_each(ledger.append, batches)
        if lines_ledger is not None:
            encoded = [[encode(event) for event in batch] for batch in batches]
            spent["lines"] += timed_each(lines_ledger.append_lines, encoded)
        rows = {
            table: reader.execute(
                f"SELECT {columns} FROM {table} WHERE seq > ? ORDER BY seq", (head,)
            ).fetchall()
            for table, columns in TABLES.items()
        }
        head = rows["events"][-1][0]
        for name, raw in raws.items():
            spent[name] += raw.insert(rows, per_call)
    for closing in (ledger, lines_ledger, *raws.values()):
        if closing is not None:
            closing.close()
    reader.close()
    return spent, path


# --- the rest of the store -----------------------------------------------------------


def store_costs(path: Path, folder: Path) -> dict[str, float]:
    figures: dict[str, float] = {}
    with Ledger.open(path) as ledger:
        started = time.perf_counter()
        report = ledger.verify()
        figures["verify_s"] = time.perf_counter() - started
        assert report.ok, report
        figures["verify_eps"] = report.events / figures["verify_s"]
        world = ledger.world()
        started = time.perf_counter()
        snapshot = audit.make_snapshot(world, report.head_hash or "")
        figures["snapshot_encode_ms"] = (time.perf_counter() - started) * 1e3
        figures["snapshot_kib"] = len(snapshot.world) / 1024
        backend = ledger.backend
        started = time.perf_counter()
        with backend.write_transaction():
            backend.save_snapshot(snapshot)
        figures["snapshot_save_ms"] = (time.perf_counter() - started) * 1e3
        figures["devices"] = len(world.devices)

    # Opening a big log for writing: from the snapshot, or replaying every event.
    with Ledger.open(path) as ledger:
        figures["open_with_snapshot_ms"] = timed(ledger.world) * 1e3
    bare = folder / "no-snapshot.db"
    shutil.copyfile(path, bare)
    conn = sqlite3.connect(bare, isolation_level=None)
    conn.execute("DELETE FROM snapshots")
    conn.close()
    with Ledger.open(bare) as ledger:
        figures["open_replaying_ms"] = timed(ledger.world) * 1e3
    return figures


# --- the run -------------------------------------------------------------------------


def run(events_total: int, singles: int, folder: Path) -> dict[str, Any]:
    events = generate(events_total)
    report: dict[str, Any] = {"events": len(events), "singles": singles, "batch": BATCH}

    spent, batched = compare(events, BATCH, "FULL", folder, "batched", extra=True)
    report["append_batch_s"] = spent["ledger"]
    report["append_lines_batch_s"] = spent["lines"]
    report["raw_schema_batch_s"] = spent["raw_schema"]
    report["raw_bare_batch_s"] = spent["raw_bare"]
    spent, _ = compare(events, BATCH, "NORMAL", folder, "batched-normal", extra=False)
    report["append_batch_normal_s"] = spent["ledger"]
    report["raw_schema_batch_normal_s"] = spent["raw_schema"]

    # One event per call: one transaction each, and under FULL one fsync each.
    for sync in ("FULL", "NORMAL"):
        spent, _ = compare(events[:singles], 1, sync, folder, f"single-{sync}", extra=False)
        report[f"append_single_{sync.lower()}_s"] = spent["ledger"]
        report[f"raw_schema_single_{sync.lower()}_s"] = spent["raw_schema"]

    report.update(store_costs(batched, folder))
    report["db_mib"] = batched.stat().st_size / 2**20
    return report


def table(report: dict[str, Any]) -> str:
    n, k = report["events"], report["singles"]
    b = f"{BATCH:,}"
    # (label, seconds, events, raw same schema seconds, raw bare table seconds)
    measured: list[tuple[str, str, int, str | None, str | None]] = [
        (
            f"Ledger.append, batches of {b}, FULL",
            "append_batch_s",
            n,
            "raw_schema_batch_s",
            "raw_bare_batch_s",
        ),
        (
            f"Ledger.append_lines, batches of {b}, FULL",
            "append_lines_batch_s",
            n,
            "raw_schema_batch_s",
            "raw_bare_batch_s",
        ),
        (f"raw executemany, batches of {b}, same schema, FULL", "raw_schema_batch_s", n, None, None),
        (f"raw executemany, batches of {b}, bare table, FULL", "raw_bare_batch_s", n, None, None),
        (
            f"Ledger.append, batches of {b}, NORMAL",
            "append_batch_normal_s",
            n,
            "raw_schema_batch_normal_s",
            None,
        ),
        (f"raw executemany, batches of {b}, same schema, NORMAL", "raw_schema_batch_normal_s", n, None, None),
        ("Ledger.append, 1 per call, FULL", "append_single_full_s", k, "raw_schema_single_full_s", None),
        ("raw insert, 1 per transaction, FULL", "raw_schema_single_full_s", k, None, None),
        (
            "Ledger.append, 1 per call, NORMAL",
            "append_single_normal_s",
            k,
            "raw_schema_single_normal_s",
            None,
        ),
        ("raw insert, 1 per transaction, NORMAL", "raw_schema_single_normal_s", k, None, None),
    ]

    def ratio(seconds: float, raw: str | None) -> str:
        return "" if raw is None else f"{seconds / report[raw]:.1f}x the time"

    rows = [("what", "events/s", "vs raw, same schema", "vs raw, bare table")]
    for label, key, count, schema, bare in measured:
        seconds = report[key]
        rows.append((label, f"{count / seconds:,.0f}", ratio(seconds, schema), ratio(seconds, bare)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += [
        "",
        f"log: {n:,} events over {report['devices']:,} devices; one event per call: the first {k:,}",
        f"verify: {report['verify_eps']:,.0f} events/s ({report['verify_s']:.1f} s for the whole log)",
        f"snapshot of the world: {report['snapshot_kib']:,.0f} KiB, encoded in {report['snapshot_encode_ms']:.0f} ms, "
        f"saved in {report['snapshot_save_ms']:.0f} ms",
        f"opening the log for writing: {report['open_with_snapshot_ms']:.0f} ms from the snapshot, "
        f"{report['open_replaying_ms']:.0f} ms replaying every event",
        f"database file: {report['db_mib']:.1f} MiB",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000, help="events for the batched runs")
    parser.add_argument("--singles", type=int, default=2_000, help="events appended one per call")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of a table")
    parser.add_argument("--dir", type=Path, help="where the temporary files go")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        report = run(args.events, args.singles, Path(tmp))
    print(json.dumps(report, indent=2) if args.json else table(report))


if __name__ == "__main__":
    main()

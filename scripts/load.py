"""The service under load, beside the bare framework, in the same run (with wrk).

Starts ``license-ledger serve`` on a fresh ledger and the bare Litestar app
of ``scripts/bare_app.py`` the same way (the same number of workers, the
same socket, uvicorn with the same options), then drives both with
`wrk <https://github.com/wg/wrk>`_ (2 threads, 16 connections, a Lua script
per workload):

- **status**: ``GET /devices/{d}/status`` of random devices;
- **appends**: ``POST /devices/{d}/try-again`` of random devices, one event a request;
- **mixed**: 90 % status reads, 10 % Try again.

Each workload runs ``--rounds`` times (default 3) and the best round is kept.
At the end it stops the service and checks the log: every append that was
answered 200 is stored exactly once (its seq, a ``TryAgainClicked``, no seq
answered twice, no idempotency key stored twice), and the file verifies.

Install wrk first (Debian or Ubuntu: ``apt-get install -y wrk``; macOS:
``brew install wrk``). Then, after ``./scripts/setup.sh``::

    .venv/bin/python scripts/load.py                     # ~3 minutes; --json for a JSON object
    .venv/bin/python scripts/load.py --rounds 1 --duration 5 --workers 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from license_ledger.ledger import Ledger
from license_ledger.service.tokens import new_token
from license_ledger.service.workers import cpu_count

SCRIPTS = Path(__file__).resolve().parent
CODE = "LOADS-TESTS-CODES-00001"

BARE_LAUNCH = r"""
import json, sys
import uvicorn
from license_ledger.service.workers import listening_socket, run_workers
from bare_app import create_app
options = json.loads(sys.argv[1])
app = {"token_sha256": options["token_sha256"]}
if options["workers"] == 1:
    uvicorn.run(create_app(**app), host="127.0.0.1", port=options["port"], access_log=False, log_level="warning")
else:
    sock = listening_socket("127.0.0.1", options["port"])
    run_workers("bare_app:create_app", app, sock, options["workers"], log_level="warning")
"""

LUA = r"""
local devices, reads, out, run = DEVICES, READS, "OUT", "RUN"
local auth = "Bearer TOKEN"
wrk.headers["Authorization"] = auth
local post_headers = {["Authorization"] = auth, ["Content-Type"] = "application/json"}
local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  seqs, failed, counter = {}, 0, 0
  math.randomseed(id * 7919 + os.time())
end
function request()
  local device = "load-" .. math.random(0, devices - 1)
  if math.random() < reads then
    return wrk.format("GET", "/devices/" .. device .. "/status")
  end
  counter = counter + 1
  local body = '{"id":"' .. run .. "-t" .. id .. "-" .. counter .. '"}'
  return wrk.format("POST", "/devices/" .. device .. "/try-again", post_headers, body)
end
function response(status, headers, body)
  if status ~= 200 then
    failed = failed + 1
  elseif body:sub(1, 7) == '{"seq":' then
    seqs[#seqs + 1] = tonumber(body:match('^{"seq":(%d+)'))
  end
end
function done(summary, latency, requests)
  local all, failures = {}, 0
  for _, thread in ipairs(threads) do
    for _, seq in ipairs(thread:get("seqs")) do all[#all + 1] = seq end
    failures = failures + thread:get("failed")
  end
  local e = summary.errors
  local f = io.open(out, "w")
  f:write(string.format(
    '{"requests": %d, "seconds": %f, "p50_ms": %f, "p99_ms": %f, "failed": %d, "socket_errors": %d, "seqs": [%s]}',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    failures, e.connect + e.read + e.write + e.timeout, table.concat(all, ",")))
  f:close()
end
"""

WORKLOADS = {"status": 1.0, "appends": 0.0, "mixed": 0.9}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, token: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            answer = httpx.get(f"{url}/devices/load-0/status", headers={"Authorization": f"Bearer {token}"})
            if answer.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the server at {url} did not start:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def seed(db: str, devices: int) -> None:
    """A code with room for everyone, and ``devices`` registered devices, each with an active license."""
    with Ledger.open(db) as ledger:
        events: list[dict[str, Any]] = [
            {
                "type": "CodeIssued",
                "code": CODE,
                "kind": "commercial",
                "term_days": 3650,
                "max_devices": 10**6,
            }
        ]
        for n in range(devices):
            events.append({"type": "DeviceRegistered", "device": f"load-{n}", "app_version": "22.1"})
            events.append({"type": "CodeEntered", "device": f"load-{n}", "code": CODE})
        ledger.append(events)


def run_wrk(
    url: str, token: str, reads: float, run: str, args: argparse.Namespace, folder: Path
) -> dict[str, Any]:
    """One workload with wrk; ``run`` names it in the idempotency keys of its appends."""
    out = folder / "wrk-out.json"
    out.unlink(missing_ok=True)
    script = folder / "load.lua"
    lua = LUA.replace("DEVICES", str(args.devices)).replace("READS", repr(reads)).replace("OUT", str(out))
    lua = lua.replace("RUN", run)
    script.write_text(lua.replace("TOKEN", token))
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "-s",
        str(script),
        url,
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=args.duration + 120)
    result: dict[str, Any] = json.loads(out.read_text())
    result["per_second"] = result["requests"] / result["seconds"]
    return result


def machine() -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()
    return {
        "cpu": model,
        "cpus": cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": wrk_version[0] if wrk_version else "",
        "load_average_before": os.getloadavg(),
    }


def check_log(db: str, acked: list[int]) -> dict[str, Any]:
    """Every acknowledged append stored once, as a TryAgainClicked; the file verifies."""
    with Ledger.open(db, read_only=True) as ledger:
        rows = {row.seq: row for row in ledger.events()}
        report = ledger.verify()
    keys = [row.idempotency_key for row in rows.values() if row.type == "TryAgainClicked"]
    lost = [seq for seq in acked if seq not in rows or rows[seq].type != "TryAgainClicked"]
    return {
        "acknowledged": len(acked),
        "answered_twice": len(acked) - len(set(acked)),
        "lost": len(lost),
        "stored_appends": len(keys),
        "keys_stored_twice": len(keys) - len(set(keys)),
        "verify_ok": report.ok,
        "events": report.events,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=cpu_count(), help="worker processes (default: CPUs)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per workload and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best one is kept")
    parser.add_argument("--connections", type=int, default=16, help="concurrent clients")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--devices", type=int, default=1000, help="devices in the seeded ledger")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="which, comma-separated")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit(
            "load.py needs wrk, the HTTP benchmarking tool, on the PATH: install it "
            "(Debian or Ubuntu: `apt-get install -y wrk`; macOS: `brew install wrk`) and run again"
        )
    with tempfile.TemporaryDirectory(prefix="license-ledger-load-") as temp:
        folder = Path(temp)
        db = str(folder / "load.db")
        seed(db, args.devices)
        tokens = folder / "tokens.json"
        token = new_token(tokens, "admin")
        digest = json.loads(tokens.read_text())["tokens"][0]["sha256"]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SCRIPTS), os.environ.get("PYTHONPATH", "")])}
        servers: dict[str, tuple[str, subprocess.Popen[bytes], Path]] = {}
        ports = {"license-ledger": free_port(), "bare": free_port()}
        commands = {
            "license-ledger": [sys.executable, "-m", "license_ledger.cli", "serve", "--db", db]
            + [
                "--tokens",
                str(tokens),
                "--port",
                str(ports["license-ledger"]),
                "--workers",
                str(args.workers),
            ]
            + ["--tick-every", "0"],
            "bare": [sys.executable, "-c", BARE_LAUNCH]
            + [json.dumps({"port": ports["bare"], "workers": args.workers, "token_sha256": digest})],
        }
        info = machine()
        try:
            for name, command in commands.items():
                log = folder / f"{name}.log"
                with log.open("wb") as out:
                    process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
                url = f"http://127.0.0.1:{ports[name]}"
                servers[name] = (url, process, log)
                wait_until_up(url, token, process, log)
            best: dict[tuple[str, str], dict[str, Any]] = {}
            acked: list[int] = []
            for round_ in range(args.rounds):
                for workload in args.workloads.split(","):
                    reads = WORKLOADS[workload]
                    for name, (url, _, _) in servers.items():
                        result = run_wrk(url, token, reads, f"r{round_}-{workload}", args, folder)
                        if name == "license-ledger":
                            acked += result["seqs"]
                        result["load_average"] = os.getloadavg()[0]
                        del result["seqs"]
                        if not args.json:
                            print(
                                f"round {round_ + 1} {workload:<8} {name:<15} {result['per_second']:>9,.0f}/s "
                                f"p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:6.2f} ms  "
                                f"failed {result['failed']}  (load {result['load_average']:.2f})",
                                flush=True,
                            )
                        key = (workload, name)
                        if key not in best or result["per_second"] > best[key]["per_second"]:
                            best[key] = result
        finally:
            for _, process, _ in servers.values():
                stop(process)
        for name, (_, _, log) in servers.items():
            if "Traceback" in log.read_text():
                raise SystemExit(f"{name} logged a traceback:\n{log.read_text()[-3000:]}")
        grouped = [
            (int(appends), int(groups))
            for appends, groups in re.findall(
                r"group commit: (\d+) appends in (\d+) transactions", servers["license-ledger"][2].read_text()
            )
        ]
        checked = check_log(db, acked)
        appends, groups = (sum(column) for column in zip(*grouped, strict=True)) if grouped else (0, 0)
        checked["appends_per_transaction"] = round(appends / groups, 2) if groups else None
    info["load_average_after"] = os.getloadavg()
    summary = {
        "machine": info,
        "workers": args.workers,
        "connections": args.connections,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "results": {f"{w}/{n}": r for (w, n), r in best.items()},
        "check": checked,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_table(summary)
    bad = (
        checked["lost"]
        or checked["answered_twice"]
        or checked["keys_stored_twice"]
        or not checked["verify_ok"]
    )
    if bad:
        raise SystemExit("the log does not hold what was acknowledged: see the check above")


def print_table(summary: dict[str, Any]) -> None:
    results = summary["results"]
    print()
    print(f"machine: {summary['machine']}")
    print(f"{summary['workers']} workers, {summary['connections']} connections, best of {summary['rounds']}")
    print()
    print("| workload | license-ledger | p50 / p99 | bare framework | p50 / p99 | ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    for workload in WORKLOADS:
        if f"{workload}/bare" not in results:
            continue
        ours, bare = results[f"{workload}/license-ledger"], results[f"{workload}/bare"]
        print(
            f"| {workload} | {ours['per_second']:,.0f}/s | {ours['p50_ms']:.2f} / {ours['p99_ms']:.2f} ms "
            f"| {bare['per_second']:,.0f}/s | {bare['p50_ms']:.2f} / {bare['p99_ms']:.2f} ms "
            f"| {ours['per_second'] / bare['per_second']:.0%} |"
        )
    print()
    print("check:", json.dumps(summary["check"]))


if __name__ == "__main__":
    main()

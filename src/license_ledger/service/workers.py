"""Several worker processes on one listening socket: ``serve --workers N``.

The parent binds the socket, then starts N workers (fresh interpreters, the
``spawn`` method) that each run uvicorn on that socket with an app of their
own: their own writing ledger, read-only ledgers and group committer. The
kernel hands each new connection to one of the workers that wait on it. The
store keeps them correct, as it keeps several ``serve`` processes on one
file or database correct: writers serialise on the store's lock and catch up
with each other inside it.

The parent only supervises: a worker that dies is started again (after a
second, if it died young); SIGTERM or SIGINT (Ctrl-C) stops every worker the
way uvicorn stops (requests in flight finish, the app shuts down), then the
parent returns. The workers run in process groups of their own, so that a
Ctrl-C in a terminal reaches only the parent, which passes it on once.

Why not uvicorn's own ``--workers``: measured on a 2-core machine, its
workers served ten times slower than one process (see docs/performance.md:
a socket made without ``IPPROTO_TCP`` gets no ``TCP_NODELAY`` from asyncio's
own loop, and every answer then waits for a delayed ACK). The socket here is
made as asyncio would make it, and ``TCP_NODELAY`` is set either way.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import Any

from .edge import ACCESS_LOG, SERVICE_LOG, LineHandler

__all__ = ["cpu_count", "log_to_stderr", "run_workers", "listening_socket"]

#: How long stopping workers may take to finish their requests before they are killed (seconds).
STOP_TIMEOUT = 30.0
#: A worker that dies younger than this (seconds) is started again only after a pause of as long.
YOUNG = 1.0


def cpu_count() -> int:
    """The CPUs this process may run on (the default number of workers)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def log_to_stderr() -> None:
    """The service's own loggers (the access log, the service's messages) to standard error, one line each."""
    handler = LineHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for logger in (ACCESS_LOG, SERVICE_LOG):
        logger.handlers = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening, as the workers share it."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def run_workers(
    factory: str,
    options: dict[str, Any],
    sock: socket.socket,
    workers: int,
    *,
    first_only: dict[str, Any] | None = None,
    log_level: str = "info",
) -> None:
    """Run ``workers`` processes, each serving ``factory(**options)`` (``module:function``) on ``sock``.

    ``first_only``: options that worker 0 alone gets (the background
    ticker), the others get them as ``0``. Returns when stopped by SIGTERM or
    SIGINT.
    """
    context = multiprocessing.get_context("spawn")
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}

    def start(index: int) -> tuple[BaseProcess, float]:
        own = dict(options)
        for name, value in (first_only or {}).items():
            own[name] = value if index == 0 else 0
        process = context.Process(
            target=_worker, args=(factory, own, sock, log_level), name=f"worker-{index}", daemon=False
        )
        process.start()
        return process, time.monotonic()

    running = {index: start(index) for index in range(workers)}
    SERVICE_LOG.info(
        "serving on %s with %d workers (pids %s)",
        _address(sock),
        workers,
        ", ".join(str(p.pid) for p, _ in running.values()),
    )
    try:
        while not stopping:
            wait([process.sentinel for process, _ in running.values()], timeout=0.5)
            for index, (process, started) in list(running.items()):
                if process.is_alive() or stopping:
                    continue
                process.join()
                SERVICE_LOG.error(
                    "worker %d (pid %s) ended with exit code %s; starting it again",
                    index,
                    process.pid,
                    process.exitcode,
                )
                if time.monotonic() - started < YOUNG:
                    time.sleep(YOUNG)
                running[index] = start(index)
    finally:
        _stop_all([process for process, _ in running.values()])
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_all(processes: list[BaseProcess]) -> None:
    for process in processes:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


def _address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def _worker(factory: str, options: dict[str, Any], sock: socket.socket, log_level: str) -> None:
    """One worker: its own process group, the service's loggers, uvicorn on the shared socket."""
    import uvicorn

    os.setpgrp()  # a terminal's Ctrl-C goes to the parent alone, which passes it on once
    _stop_when_orphaned(os.getppid())
    log_to_stderr()
    module, _, name = factory.partition(":")
    app = getattr(importlib.import_module(module), name)(**options)
    config = uvicorn.Config(app, access_log=False, log_level=log_level)
    uvicorn.Server(config).run(sockets=[sock])


def _stop_when_orphaned(parent: int) -> None:
    """Stop this worker (as SIGTERM does) if its parent dies without stopping it (SIGKILL)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()

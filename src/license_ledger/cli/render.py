"""Human output of the command line (rich). JSON output needs none of this."""

from __future__ import annotations

import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..engine.moments import format_time
from ..engine.views import Appended, DeviceStatus, TraceEntry
from ..store.audit import ReplaySummary, VerifyReport

__all__ = [
    "appended_summary",
    "appended_table",
    "count",
    "explained",
    "progress",
    "replay_tables",
    "see",
    "result_style",
    "state_style",
    "screenful",
    "status_panel",
    "trace_table",
    "verify_text",
    "why",
]

_STATE_STYLE = {"active": "green", "expired": "yellow", "blocked": "red", "unlicensed": "dim"}


def why(detail: dict[str, Any] | None) -> str:
    """The details of a result, as one readable line."""
    if not detail:
        return ""
    if "held_by" in detail:
        held = detail["held_by"]
        return f"{len(held)} of {detail['max_devices']} seats held by {', '.join(held)}"
    if "compatible_versions" in detail:
        return f"app {detail['app_version']} not in {detail['compatible_versions']}"
    if "license_expires_at" in detail:
        return f"code expires {detail['code_expires_at']}, license {detail['license_expires_at']}"
    if "activation_at" in detail:
        return f"code expired {detail['code_expires_at']}, activation at {detail['activation_at']}"
    if "blocked_devices" in detail:
        devices = detail["blocked_devices"]
        return "blocked " + (", ".join(devices) if devices else "no active license")
    if "block_reason" in detail:
        return f"blocked: {detail['block_reason']}" if detail["block_reason"] else "blocked by the vendor"
    if detail.get("requires_console"):
        return "needs the management console; device disconnected"
    return ", ".join(f"{k}={v}" for k, v in detail.items())


def see(evidence: Iterable[int]) -> str:
    """Evidence as a person reads it: ``see #812, #907`` (empty when there is none)."""
    seqs = [f"#{seq}" for seq in evidence]
    return f"see {', '.join(seqs)}" if seqs else ""


def explained(detail: dict[str, Any] | None, evidence: Iterable[int]) -> str:
    """The why and the evidence of a result, as one line: ``why: ...; see #16, #20``."""
    parts = [f"why: {why(detail)}" if detail else "", see(evidence)]
    return "; ".join(part for part in parts if part)


def result_style(result: str) -> str:
    """The colour of a result: red when refused or failed, yellow when ignored, else green."""
    return "red" if result in {"rejected", "renewal_failed"} else "yellow" if result == "ignored" else "green"


def state_style(state: str) -> str:
    """The colour of a device's state."""
    return _STATE_STYLE.get(state, "")


def _result(result: str, reason: str | None) -> Text:
    return Text(result if reason is None else f"{result} ({reason})", style=result_style(result))


def appended_table(appended: Iterable[Appended]) -> Table:
    table = Table(box=None, pad_edge=False)
    for column in ("seq", "at", "event", "result"):
        table.add_column(column, no_wrap=column != "result")
    for a in appended:
        result = _result(a.result, a.reason)
        if not a.stored:
            result.append(" (already stored)", style="dim")
        note = explained(a.detail, a.evidence)
        if note:
            result.append(f"\n  {note}", style="dim")
        table.add_row(str(a.seq), format_time(a.at), a.type, result)
    return table


#: Results that did not take effect, shown first in a summary.
_NOT_TAKEN = {"rejected", "renewal_failed"}
#: How many of them a summary shows.
SUMMARY_EXAMPLES = 5


def screenful() -> int:
    """How many results fit on one screen: the terminal's height, or 40 lines elsewhere."""
    if sys.stdout.isatty():
        return max(10, shutil.get_terminal_size().lines - 6)
    return 40


def appended_summary(appended: list[Appended]) -> Group:
    """More results than a screen holds: counts by result and reason, and the first refusals."""
    counts = Counter(a.result if a.reason is None else f"{a.result}: {a.reason}" for a in appended)
    results = Table(title="Results", title_justify="left", box=None, pad_edge=False)
    results.add_column("result (reason)")
    results.add_column("events", justify="right")
    for name, n in sorted(counts.items()):
        results.add_row(name, f"{n:,}")
    not_taken = [a for a in appended if a.result in _NOT_TAKEN]
    parts: list[Any] = [results]
    if not_taken:
        shown = not_taken[:SUMMARY_EXAMPLES]
        first = appended_table(shown)
        first.title = (
            f"First {count(len(shown), 'refusal or failure', 'refusals or failures')} of {len(not_taken):,}"
        )
        first.title_justify = "left"
        parts += [Text(), first]
    parts += [
        Text(),
        Text(
            f"A summary of {count(len(appended), 'result')}: --all prints every one, --json one JSON line each.",
            style="dim",
        ),
    ]
    return Group(*parts)


def status_panel(status: DeviceStatus) -> Panel:
    lines = Table.grid(padding=(0, 2))
    lines.add_column(style="bold")
    lines.add_column()
    lines.add_row("state", Text(status.state, style=_STATE_STYLE.get(status.state, "")))
    lic = status.license
    if lic is None:
        lines.add_row("license", "none")
    else:
        note = " (provisional: less than 24 h after purchase)" if lic.provisional else ""
        lines.add_row("license", f"{lic.code}  {lic.kind}{note}")
        # The code's first activation, on this device or another: its term started then.
        lines.add_row("first activated", format_time(lic.activated_at))
        lines.add_row("expires", format_time(lic.expires_at))
    backup = status.backup
    if backup is None:
        lines.add_row("backup", "none")
    else:
        failure = f", failed: {backup.failure}" if backup.failure else ""
        lines.add_row("backup", f"{backup.code}  {backup.state}{failure}")
        lines.add_row("backup added", format_time(backup.added_at))
    lines.add_row("actions", ", ".join(status.actions) or "none")
    title = f"{status.device} as of {format_time(status.as_of)}"
    return Panel(lines, title=title, expand=False)


def trace_table(device: str, entries: Iterable[TraceEntry]) -> Table:
    table = Table(title=f"Trace of {device}", title_justify="left", box=None, pad_edge=False)
    for column in ("seq", "at", "event", "result", "state"):
        table.add_column(column, no_wrap=column != "result")
    for e in entries:
        state = Text(e.state, style=_STATE_STYLE.get(e.state, ""))
        table.add_row(str(e.seq), format_time(e.at), e.type, _result(e.result, e.reason), state)
        note = explained(e.detail, e.evidence)
        if note:
            table.add_row("", "", "", Text(note, style="dim"), "")
    return table


def replay_tables(summary: ReplaySummary) -> Group:
    states = Table(title="Devices by state", title_justify="left")
    states.add_column("state")
    states.add_column("devices", justify="right")
    for state, devices in summary.devices_by_state.items():
        states.add_row(Text(state, style=_STATE_STYLE.get(state, "")), str(devices))
    results = Table(title="Results", title_justify="left")
    results.add_column("result (reason)")
    results.add_column("events", justify="right")
    for result, events in summary.results.items():
        results.add_row(result, str(events))
    when = "" if summary.as_of is None else f" as of {format_time(summary.as_of)}"
    head = Text(f"Replayed {count(summary.events, 'event')}{when}: {count(summary.devices, 'device')}.")
    return Group(head, states, results)


def verify_text(report: VerifyReport) -> str:
    if report.ok:
        # SEQ:HASH, as --expect-head takes it.
        head = f"{report.head_seq}:{report.head_hash}" if report.head_hash else "empty log"
        text = (
            f"OK: {count(report.events, 'event')}; chain, projection and snapshot intact.\nChain head: {head}"
        )
        return text if report.unproven is None else f"{text}\nNote: {report.unproven}."
    if report.first_bad_seq is None:
        return f"Damaged: {report.problem}"
    return f"Damaged at seq {report.first_bad_seq}: {report.problem}"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 event``, ``2 events``: a number with its noun."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {plural or noun + 's'}"


#: Show a progress bar only once a command has run this long (seconds).
PROGRESS_AFTER = 1.0


@contextmanager
def progress(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on standard error while the block runs, on a terminal only.

    Yields the callback that advances it by a number of events. The bar
    appears once the block has run for :data:`PROGRESS_AFTER` seconds, so
    quick commands print nothing extra; on a pipe (or in a log) it never
    does, so that output stays clean.
    """
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.progress import Progress

    bar = Progress(console=console(stderr=True), transient=True)
    task = bar.add_task(label, total=total)
    started = time.monotonic()
    shown = False

    def advance(n: int) -> None:
        nonlocal shown
        bar.advance(task, n)
        if not shown and time.monotonic() - started >= PROGRESS_AFTER:
            bar.start()
            shown = True

    try:
        yield advance
    finally:
        if shown:
            bar.stop()


def console(stderr: bool = False) -> Console:
    """A console for human output; 120 columns when not on a terminal (logs, pipes)."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 120
    return Console(stderr=stderr, highlight=False, width=width)

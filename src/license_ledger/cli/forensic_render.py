"""Human output of the forensic commands: plain lines within 80 columns."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from ..engine.forensics.views import DeviceState, Diff, FirstMatch, ResultView, WhatIf
from ..engine.moments import format_time
from ..engine.views import DeviceStatus, TraceEntry
from .render import explained

__all__ = ["WIDTH", "devices_text", "diff_text", "first_text", "status_lines", "what_if_text"]

WIDTH = 80


def _fit(text: str, indent: str = "") -> list[str]:
    """One line, wrapped to :data:`WIDTH` (continuations indented a little more)."""
    return textwrap.wrap(
        text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ", break_on_hyphens=False
    ) or [indent]


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _result(view: ResultView | str) -> str:
    if isinstance(view, str):
        return view
    return view.result if view.reason is None else f"{view.result} ({view.reason})"


def _entry(entry: TraceEntry) -> list[str]:
    lines = _fit(f"#{entry.seq}  {format_time(entry.at)}  {entry.type}", "  ")
    result = entry.result if entry.reason is None else f"{entry.result} ({entry.reason})"
    lines += _fit(f"{result} -> {entry.state}", "      ")
    note = explained(entry.detail, entry.evidence)
    return lines + (_fit(note, "      ") if note else [])


def status_lines(status: DeviceStatus | None, indent: str = "  ") -> list[str]:
    """A status in a few short lines."""
    if status is None:
        return [f"{indent}not registered"]
    lines = [f"{indent}state    {status.state}"]
    lic = status.license
    if lic is not None:
        note = ", provisional" if lic.provisional else ""
        lines.append(f"{indent}license  {lic.code} {lic.kind}{note}")
        lines.append(f"{indent}         until {format_time(lic.expires_at)}")
    backup = status.backup
    if backup is not None:
        failure = f" ({backup.failure})" if backup.failure else ""
        lines.append(f"{indent}backup   {backup.code} {backup.state}{failure}")
    lines += _fit(f"buttons  {', '.join(status.actions) or 'none'}", indent)
    return lines


def diff_text(diff: Diff) -> str:
    lines = _fit(f"{diff.device}: from {format_time(diff.since)} to {format_time(diff.until)}")
    if not diff.changes:
        lines.append("No field of the status changed.")
    else:
        lines.append(f"Changed ({len(diff.changes)}):")
    for change in diff.changes:
        by = f"by #{change.seq}" if change.seq is not None else "as time passed"
        lines += _fit(f"{change.field}  {by}", "  ")
        lines += _fit(f"before: {_value(change.before)}", "      ")
        lines += _fit(f"after:  {_value(change.after)}", "      ")
    lines.append(f"Events between ({len(diff.events)}):" if diff.events else "No events between.")
    for entry in diff.events:
        lines += _entry(entry)
    return "\n".join(lines)


def first_text(found: FirstMatch, criteria: dict[str, Any], after: datetime | None) -> str:
    wanted = ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in criteria.items() if value)
    since = f" (searched after {format_time(after)})" if after is not None else ""
    if found.seq is None or found.at is None:
        return "\n".join(_fit(f"{found.device}: never {wanted}{since}."))
    lines = _fit(f"{found.device}: first {wanted} after #{found.seq}, {format_time(found.at)}{since}.")
    return "\n".join([*lines, *status_lines(found.status)])


def devices_text(found: Iterable[DeviceState], state: str | None, as_of: datetime | None) -> str:
    rows = list(found)
    when = f" as of {format_time(as_of)}" if as_of is not None else ""
    which = f" in state {state}" if state else ""
    if not rows:
        return f"No devices{which}{when}."
    width = min(max(len(row.device) for row in rows), WIDTH - 14)
    lines = [f"{'device':<{width}}  state"]
    lines += [f"{row.device:<{width}}  {row.state}" for row in rows]
    lines.append(f"{len(rows)} device{'s' if len(rows) != 1 else ''}{which}{when}.")
    return "\n".join(lines)


def what_if_text(
    report: WhatIf, drop: Iterable[int], inserted: Iterable[int], flatten: Callable[[Any], dict[str, Any]]
) -> str:
    changes = [f"drop #{seq}" for seq in drop] + [f"insert after #{seq}" for seq in inserted]
    lines = _fit(f"What if: {', '.join(changes) or 'no change'}; statuses as of {format_time(report.as_of)}.")
    if report.first_divergence is None:
        lines.append("No event kept in the log would get another result.")
    else:
        lines.append(f"First divergence: #{report.first_divergence}.")
    if report.changed_events:
        lines.append(f"Changed events ({len(report.changed_events)}):")
    for event in report.changed_events:
        lines += _fit(f"#{event.seq}  {event.type}  {event.device or ''}".rstrip(), "  ")
        lines += _fit(f"{_result(event.was)} -> {_result(event.now)}", "      ")
    if report.inserted:
        lines.append(f"Inserted events ({len(report.inserted)}):")
    for added in report.inserted:
        lines += _fit(f"after #{added.after}  {added.type}  {added.device or ''}".rstrip(), "  ")
        lines += _fit(f"-> {_result(added.now)}", "      ")
    if not report.devices:
        lines.append("No device's status would differ.")
    else:
        lines.append(f"Devices whose status would differ ({len(report.devices)}):")
    for device in report.devices:
        lines.append(f"  {device.device}")
        was, now = flatten(device.was), flatten(device.now)
        for name in was:
            if was[name] != now[name]:
                lines += _fit(f"{name}: {_value(was[name])} -> {_value(now[name])}", "      ")
    return "\n".join(lines)

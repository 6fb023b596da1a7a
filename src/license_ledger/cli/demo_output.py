"""How ``license-ledger demo`` tells its story: chapter by chapter, at most 80 columns.

Each chapter's sentence, then its events as the log keeps them (seq, time,
device, event, the code's last five characters, result), with the reason and
the "why" of a result on a line of their own, indented under the event.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from ..engine.moments import format_time
from ..engine.views import DeviceStatus
from ..ledger import Ledger
from ..store.protocol import FeedRow
from . import demo, render

__all__ = ["WIDTH", "tell"]

#: The demo's output never gets wider than this.
WIDTH = 80
_GAP = "  "
_COLUMNS = ("seq", "at (UTC)", "device", "event", "code", "result")


def tell(ledger: Ledger, db: Path, out: Console) -> None:
    """Append the story to ``ledger`` chapter by chapter, printing it as it unfolds."""
    out.print(
        f"The demo tells a year of licenses in a small office, as it happens. Each step is an "
        f"event appended to {db}, a demo ledger: the next demo run replaces it, and no other "
        f"file. Codes are shown by their last five characters, the only part the log keeps."
    )
    for number, chapter in enumerate(demo.CHAPTERS, start=1):
        before = ledger.backend.head()[0]
        demo.run(ledger, chapter.steps)
        added = ledger.events(after=before)
        out.print()
        told = Table.grid(padding=(0, 1))
        told.add_column(style="bold", no_wrap=True)
        told.add_column()
        told.add_row(f"{number}.", chapter.text)
        out.print(told)
        out.print()
        _print_rows(out, added)
        if chapter.look is not None:
            device, moment = chapter.look
            out.print()
            out.print(_indented(status_line(ledger.status(device, moment)), 3))
    out.print()
    out.print(Text(f"At the end of the story ({format_time(demo.STORY_END)}):", style="bold"))
    out.print(_status_table([ledger.status(device, demo.STORY_END) for device in demo.DEVICES]))
    out.print()
    out.print(render.verify_text(ledger.verify()))
    out.print()
    out.print(Text("Try next:", style="bold"))
    for why, command in next_commands(db):
        out.print(_indented(Text(why, style="dim"), 2))
        out.print(_indented(Text(command), 4))


def next_commands(db: Path) -> list[tuple[str, str]]:
    """The three commands a newcomer runs after the demo, with what each shows."""
    return [
        (
            "why the tablet's license is what it is, event by event:",
            f"license-ledger trace kids-tablet --db {db}",
        ),
        (
            "reception's status between the block and the click:",
            f"license-ledger status reception-pc --as-of 2025-03-12T08:00:00Z --db {db}",
        ),
        (
            "the same ledger over HTTP, with its API documentation at /schema:",
            f"license-ledger serve --db {db} --insecure-no-auth",
        ),
    ]


def _indented(text: Text, indent: int) -> Padding:
    return Padding(text, (0, 0, 0, indent), expand=False)


def _print_rows(out: Console, added: list[FeedRow]) -> None:
    widths = _widths()
    out.print(Text(_line(_COLUMNS, widths), style="bold"))
    for row in added:
        cells = (
            str(row.seq),
            _short_time(row.at),
            row.device or "",
            row.type,
            _code_tail(row.payload),
            row.result,
        )
        line = Text(_line(cells[:-1], widths) + _GAP)
        line.append(row.result, style=render.result_style(row.result))
        out.print(line, no_wrap=True, overflow="ellipsis")
        because = _because(row)
        if because:
            indent = widths[0] + len(_GAP)
            out.print(_indented(Text(because, style="dim"), indent))


def _because(row: FeedRow) -> str:
    detail: dict[str, Any] | None = json.loads(row.detail) if row.detail else None
    parts = [part for part in (row.reason, render.why(detail)) if part]
    return "why: " + "; ".join(parts) if parts else ""


def _widths() -> list[int]:
    """Column widths of the story's tables, the same for every chapter."""
    types = {step["type"] for step in demo.STORY if isinstance(step, dict)} | {"LicenseExpired"}
    longest = [len(str(len(demo.STORY))), 16, max(map(len, demo.DEVICES)), max(map(len, types)), 5]
    return [max(len(name), width) for name, width in zip(_COLUMNS, longest, strict=False)]


def _line(cells: tuple[str, ...], widths: list[int]) -> str:
    padded = [cells[0].rjust(widths[0])] + [
        cell.ljust(width) for cell, width in zip(cells[1:], widths[1:], strict=False)
    ]
    if len(cells) > len(widths):
        padded.append(cells[-1])
    return _GAP.join(padded)


def _short_time(at: str) -> str:
    """``2025-03-12T09:00:00.000000Z`` as ``2025-03-12 09:00`` (the story's times are whole minutes)."""
    return f"{at[:10]} {at[11:16]}"


def _code_tail(payload: str) -> str:
    code = json.loads(payload).get("code")
    if not isinstance(code, dict):
        return ""
    return str(code.get("tail")) if code.get("well_formed") else "typo"


def status_line(status: DeviceStatus) -> Text:
    """A device's status in a sentence: state, license, backup, the actions offered."""
    text = Text(f"{status.device} at {format_time(status.as_of)}: ", style="bold")
    text.append(status.state, style=render.state_style(status.state))
    lic = status.license
    if lic is not None:
        text.append(f"; license {lic.code[-5:]}, expires {format_time(lic.expires_at)}")
    if status.backup is not None:
        failure = f" ({status.backup.failure})" if status.backup.failure else ""
        text.append(f"; backup {status.backup.code[-5:]} {status.backup.state}{failure}")
    text.append(f"; actions: {', '.join(status.actions) or 'none'}.")
    return text


def _status_table(statuses: list[DeviceStatus]) -> Table:
    table = Table(box=None, pad_edge=False)
    for column in ("device", "state", "license", "expires", "backup", "actions"):
        table.add_column(column, no_wrap=column != "actions")
    for status in statuses:
        lic, backup = status.license, status.backup
        table.add_row(
            status.device,
            Text(status.state, style=render.state_style(status.state)),
            lic.code[-5:] if lic else "none",
            _short_time(format_time(lic.expires_at)) if lic else "",
            f"{backup.code[-5:]} {backup.state}" if backup else "none",
            ", ".join(status.actions) or "none",
        )
    return table

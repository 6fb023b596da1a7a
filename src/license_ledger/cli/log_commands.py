"""Commands that add to the log: append, tick; and export, which reads it back as input."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from ..engine.views import Appended
from ..ledger import Ledger
from . import render
from .options import Timestamp, db_option, json_option, new_file_kept_only_on_success, print_json_lines

all_option = click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Print every result, even beyond a screenful (default: a summary).",
)


@click.command()
@click.argument("file", type=click.File("rb"))
@db_option()
@json_option
@all_option
def append(file: Any, db: Path | str, as_json: bool, show_all: bool) -> None:
    """Append JSON lines from FILE (- for standard input), all or nothing.

    Prints each event's seq, result and reason; beyond a screenful, a summary
    (counts by result and the first refusals) unless --all. --json prints one
    JSON object per event.

    \b
    Example:
      license-ledger append events.jsonl --db shop.db
      echo '{"type":"TryAgainClicked","device":"laptop"}' | license-ledger append -
    """
    lines = file.readlines()
    with (
        new_file_kept_only_on_success(db),
        Ledger.open(db) as ledger,
        render.progress("Appending", len(lines)) as advance,
    ):
        appended = ledger.append_lines(lines, progress=advance)
    if not appended and not as_json:
        # Not an error: the export of an empty ledger appends as nothing.
        click.echo(f"No events in {file.name}: nothing was stored.")
        return
    if as_json:
        print_json_lines(appended)
        return
    out = render.console()
    _print_results(out, appended, show_all)
    repeated = sum(not a.stored for a in appended)
    note = f" ({repeated} already stored)" if repeated else ""
    out.print(f"Stored {render.count(len(appended) - repeated, 'event')}{note}.")


@click.command()
@click.option("--now", type=Timestamp(), help="The moment the clock reached (default: now).")
@db_option()
@json_option
@all_option
def tick(now: datetime | None, db: Path | str, as_json: bool, show_all: bool) -> None:
    """Append a LicenseExpired for every active license due by --now.

    \b
    Example:
      license-ledger tick --now 2026-01-12T09:00:00Z
    """
    with Ledger.open(db) as ledger, render.progress("Expiring", None) as advance:
        appended = ledger.tick(now, progress=advance)
    if as_json:
        print_json_lines(appended)
        return
    out = render.console()
    if appended:
        _print_results(out, appended, show_all)
        out.print(f"{render.count(len(appended), 'license')} expired.")
    else:
        out.print("No license was due: nothing was appended.")


def _print_results(out: Console, appended: list[Appended], show_all: bool) -> None:
    if show_all or len(appended) <= render.screenful():
        out.print(render.appended_table(appended))
    else:
        out.print(render.appended_summary(appended))


@click.command()
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-", help="Default: stdout.")
@db_option()
def export(output: Any, db: Path | str) -> None:
    """The log as JSON lines that `append` accepts into a fresh store.

    \b
    Example:
      license-ledger export -o backup.jsonl && license-ledger append backup.jsonl --db copy.db
    """
    with Ledger.open(db, read_only=True) as ledger:
        total = ledger.backend.head()[0]
        with render.progress("Exporting", total) as advance:
            lines = ledger.export()
            while chunk := list(itertools.islice(lines, _EXPORT_CHUNK)):
                output.write("\n".join(chunk) + "\n")
                advance(len(chunk))


_EXPORT_CHUNK = 10_000

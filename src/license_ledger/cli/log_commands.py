"""Commands that add to the log: append, tick; and export, which reads it back as input."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ..ledger import Ledger
from . import render
from .options import Timestamp, db_option, json_option, new_file_kept_only_on_success, print_json


@click.command()
@click.argument("file", type=click.File("rb"))
@db_option()
@json_option
def append(file: Any, db: Path | str, as_json: bool) -> None:
    """Append JSON lines from FILE (- for standard input), all or nothing.

    Prints each event's seq, result and reason.

    \b
    Example:
      license-ledger append events.jsonl --db shop.db
      echo '{"type":"TryAgainClicked","device":"laptop"}' | license-ledger append -
    """
    lines = file.readlines()
    with new_file_kept_only_on_success(db), Ledger.open(db) as ledger:
        appended = ledger.append_lines(lines)
    if not appended and not as_json:
        # Not an error: the export of an empty ledger appends as nothing.
        click.echo(f"No events in {file.name}: nothing was stored.")
        return
    if as_json:
        for a in appended:
            print_json(a)
        return
    out = render.console()
    out.print(render.appended_table(appended))
    repeated = sum(not a.stored for a in appended)
    note = f" ({repeated} already stored)" if repeated else ""
    out.print(f"Stored {render.count(len(appended) - repeated, 'event')}{note}.")


@click.command()
@click.option("--now", type=Timestamp(), help="The moment the clock reached (default: now).")
@db_option()
@json_option
def tick(now: datetime | None, db: Path | str, as_json: bool) -> None:
    """Append a LicenseExpired for every active license due by --now.

    \b
    Example:
      license-ledger tick --now 2026-01-12T09:00:00Z
    """
    with Ledger.open(db) as ledger:
        appended = ledger.tick(now)
    if as_json:
        for a in appended:
            print_json(a)
        return
    out = render.console()
    if appended:
        out.print(render.appended_table(appended))
        out.print(f"{render.count(len(appended), 'license')} expired.")
    else:
        out.print("No license was due: nothing was appended.")


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
        for line in ledger.export():
            output.write(line + "\n")

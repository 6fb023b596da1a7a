"""Commands about the project itself: the event schemas, the rules diagram, the demo story."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..engine.rules import mermaid
from ..engine.schemas import event_schemas
from ..errors import LedgerError
from ..ledger import Ledger
from ..store.open import shown
from . import demo, render
from .options import db_option


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Write one file per type here.")
def schema(out: Path | None) -> None:
    """The JSON Schemas of the events (the union on stdout, or files in --out).

    \b
    Example:
      license-ledger schema --out event_schemas
    """
    schemas = event_schemas()
    if out is None:
        click.echo(json.dumps(schemas["event"], indent=2, sort_keys=True))
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, body in schemas.items():
        (out / f"{name}.json").write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
    click.echo(f"Wrote {len(schemas)} schemas to {out}.")


@click.command()
def diagram() -> None:
    """The state machine as Mermaid text, drawn from the rules table.

    \b
    Example:
      license-ledger diagram > rules.mmd
    """
    click.echo(mermaid())


@click.command(name="demo")
@db_option(default="license-ledger-demo.db")
def demo_command(db: Path | str) -> None:
    """Build a store with a realistic story and show statuses and traces.

    The file is created anew (an existing ledger file at that path is replaced);
    a PostgreSQL schema must hold no events yet.

    \b
    Example:
      license-ledger demo --db demo.db
    """
    _remove_ledger_file(db)
    out = render.console()
    with Ledger.open(db) as ledger:
        appended = demo.run(ledger)
        out.print(f"Appended {len(appended)} events to {shown(db)}.\n")
        out.print(render.appended_table(appended))
        out.print()
        out.print("On the way:")
        for device, moment in demo.MOMENTS:
            out.print(render.status_panel(ledger.status(device, moment)))
        out.print("At the end of the story:")
        for device in demo.DEVICES:
            out.print(render.status_panel(ledger.status(device, demo.STORY_END)))
        for device in demo.TRACED:
            out.print(render.trace_table(device, ledger.trace(device)))
        out.print(render.verify_text(ledger.verify()))


def _remove_ledger_file(path: Path | str) -> None:
    if not isinstance(path, Path):
        with Ledger.open(path, read_only=True) as ledger:  # a database: never dropped, only refused
            if ledger.backend.head()[0]:
                raise LedgerError(f"{shown(path)}: holds events already; the demo needs an empty store")
        return
    if not path.exists():
        return
    Ledger.open(path, read_only=True).close()  # refuses a file that is not a ledger
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)

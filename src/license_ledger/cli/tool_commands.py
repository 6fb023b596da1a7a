"""Commands about the project itself: the event schemas, the rules diagram, the demo story."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..engine.diagram import mermaid
from ..engine.schemas import event_schemas
from ..errors import LedgerError
from ..ledger import Ledger
from ..store.sqlite import SQLiteBackend
from . import demo_output, render


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


#: The ``ledger_meta`` row that marks a file written by the demo (the demo replaces only those).
DEMO_MARK = "demo"


@click.command(name="demo")
@click.option(
    "--db",
    "db",
    default="demo.db",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The demo ledger to write (LICENSE_LEDGER_DB is ignored here).",
)
def demo_command(db: Path) -> None:
    """Tell a year of licenses in a small office, writing a demo ledger.

    The story is printed as it unfolds, chapter by chapter, then the statuses
    at its end and the commands to try next. The demo writes only a file of
    its own: a new one, or one an earlier demo wrote (it is replaced). It
    refuses any other existing file, and ignores LICENSE_LEDGER_DB.

    \b
    Example:
      license-ledger demo --db demo.db
    """
    _remove_earlier_demo(db)
    out = render.console()
    out.width = min(out.width, demo_output.WIDTH)
    backend = SQLiteBackend(db, mode="create", marks={DEMO_MARK: "written by `license-ledger demo`"})
    with Ledger(backend) as ledger:
        demo_output.tell(ledger, db, out)


def _remove_earlier_demo(path: Path) -> None:
    """Remove a demo ledger left by an earlier run; refuse any other existing file."""
    if not path.exists():
        return
    refusal = (
        f"{path}: the demo writes only a new file or one an earlier demo wrote, "
        "and will not replace this one; pass another --db"
    )
    try:
        existing = SQLiteBackend(path, mode="read")
    except LedgerError as error:
        raise LedgerError(f"{refusal} (it is not a license-ledger file: {error})") from None
    try:
        mark = existing.meta(DEMO_MARK)
        events = existing.head()[0]
    finally:
        existing.close()
    if mark is None:
        raise LedgerError(
            f"{refusal} (a ledger of {render.count(events, 'event')} that the demo did not write)"
        )
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)

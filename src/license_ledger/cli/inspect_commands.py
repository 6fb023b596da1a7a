"""``license-ledger inspect``: the forensic web inspector over a ledger file, read-only."""

from __future__ import annotations

from pathlib import Path

import click

from .options import db_option


@click.command()
@db_option()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="The address to listen on; other than loopback only with --tokens.",
)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--tokens",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A token file: every page then asks for an auditor, admin or device token.",
)
def inspect(db: Path | str, host: str, port: int, tokens: Path | None) -> None:
    """Browse the ledger in a web page: devices, timelines, any past moment, events (never writes).

    \b
    Example:
      license-ledger inspect --db demo.db
    """
    from ..service.inspector import inspect as run

    run(db, host, port, tokens)

"""The support engineer's commands: diff, first, devices, what-if.

Human output is plain lines that fit 80 columns (long values wrap); every
command has ``--json``. docs/forensics.md walks through them on the demo.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ..engine.codec import decode_numbered_lines
from ..engine.forensics.diff import flatten
from ..errors import InputRefused
from ..ledger import Ledger
from . import forensic_render as show
from .options import Timestamp, db_option, json_option, print_json


@click.command()
@click.argument("device")
@click.option("--from", "since", type=Timestamp(), required=True, help="The first moment.")
@click.option("--to", "until", type=Timestamp(), help="The second moment (default: now).")
@db_option()
@json_option
def diff(device: str, since: datetime, until: datetime | None, db: Path, as_json: bool) -> None:
    """DEVICE's status at two moments: each field that changed, the event that changed it
    last, and the events between.

    \b
    Example:
      license-ledger diff kids-tablet --from 2025-05-01T00:00:00Z --to 2025-06-03T00:00:00Z
    """
    with Ledger.open(db, read_only=True) as ledger:
        found = ledger.diff(device, since, until)
    if as_json:
        print_json(found)
    else:
        click.echo(show.diff_text(found))


@click.command()
@click.argument("device")
@click.option("--state", help="A state: unlicensed, active, expired, blocked.")
@click.option("--backup-state", help="A backup state: pending, activation_failed.")
@click.option("--action", help="A button shown: try_again, activate_now, remove_license.")
@click.option("--result", help="The result of the event itself (renewed, renewal_failed, ...).")
@click.option("--reason", help="The reason of the event's result (device_limit_reached, ...).")
@click.option("--after", type=Timestamp(), help="Search only the events after this moment.")
@db_option()
@json_option
def first(
    device: str,
    state: str | None,
    backup_state: str | None,
    action: str | None,
    result: str | None,
    reason: str | None,
    after: datetime | None,
    db: Path,
    as_json: bool,
) -> None:
    """The first event after which DEVICE's status matched (an indexed search, not a replay).

    Exit 0 also when it never matched: "never" is an answer.

    \b
    Example:
      license-ledger first reception-pc --state blocked
      license-ledger first kids-tablet --result renewal_failed --reason device_limit_reached
    """
    criteria: dict[str, Any] = {
        "state": state,
        "backup_state": backup_state,
        "action": action,
        "result": result,
        "reason": reason,
    }
    with Ledger.open(db, read_only=True) as ledger:
        found = ledger.first(device, after=after, **criteria)
    if as_json:
        print_json(found)
    else:
        click.echo(show.first_text(found, criteria, after))


@click.command()
@click.option("--state", help="Only devices in this state.")
@click.option("--as-of", type=Timestamp(), help="The moment (default: now).")
@click.option("--after", default="", help="Only devices whose name sorts after this (paging).")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many devices.")
@db_option()
@json_option
def devices(
    state: str | None, as_of: datetime | None, after: str, limit: int | None, db: Path, as_json: bool
) -> None:
    """The devices and their state as of a moment, by name (one pass over an index).

    \b
    Example:
      license-ledger devices --state expired --as-of 2025-06-02T12:00:00Z
    """
    with Ledger.open(db, read_only=True) as ledger:
        found = ledger.devices(state, as_of, after=after, limit=limit)
    if as_json:
        print_json(found)
    else:
        click.echo(show.devices_text(found, state, as_of))


@click.command("what-if")
@click.option(
    "--drop", type=click.IntRange(min=1), multiple=True, metavar="SEQ", help="Leave this event out."
)
@click.option(
    "--insert-after",
    type=(click.IntRange(min=0), click.File("rb")),
    multiple=True,
    metavar="SEQ FILE",
    help="Insert the JSON lines of FILE after SEQ (0: before the first).",
)
@click.option("--as-of", type=Timestamp(), help="Compare the statuses as of this moment (default: now).")
@db_option()
@json_option
def what_if(
    drop: tuple[int, ...],
    insert_after: tuple[tuple[int, Any], ...],
    as_of: datetime | None,
    db: Path,
    as_json: bool,
) -> None:
    """Replay the log in memory with events dropped or inserted; nothing is written.

    Says which stored events would get another result (the first of them
    too) and which devices another status. An inserted event without `at`
    takes the time of the event at SEQ.

    \b
    Example:
      license-ledger what-if --drop 16 --as-of 2025-06-03T00:00:00Z
    """
    insert: list[tuple[int, list[Any]]] = []
    for after, file in insert_after:
        try:
            insert.append((after, [event for _, event in decode_numbered_lines(file.readlines())]))
        except InputRefused as refused:
            raise refused.at_seq(after, inserted=True, line=refused.line) from None
    with Ledger.open(db, read_only=True) as ledger:
        found = ledger.what_if(drop=drop, insert=insert, as_of=as_of)
    if as_json:
        print_json(found)
    else:
        click.echo(show.what_if_text(found, drop, [after for after, _ in insert], flatten))

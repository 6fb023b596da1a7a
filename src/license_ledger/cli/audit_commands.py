"""Commands that ask the log: status, trace, verify, replay; and keep it: rebuild, migrate."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import click

from ..errors import DamagedLedger
from ..ledger import Ledger
from ..store.audit import VerifyReport
from ..store.open import shown
from . import render
from .options import Location, Timestamp, db_option, json_option, new_file_kept_only_on_success, print_json


@click.command()
@click.argument("device")
@click.option("--as-of", type=Timestamp(), help="The moment to judge at (default: now).")
@db_option()
@json_option
def status(device: str, as_of: datetime | None, db: Path | str, as_json: bool) -> None:
    """The license status of DEVICE: state, license, backup, the actions offered.

    \b
    Example:
      license-ledger status home-laptop --as-of 2025-06-01T00:00:00Z
    """
    with Ledger.open(db, read_only=True) as ledger:
        result = ledger.status(device, as_of)
    if as_json:
        print_json(result)
    else:
        render.console().print(render.status_panel(result))


@click.command()
@click.argument("device")
@click.option("--from", "since", type=Timestamp(), help="Only events after this moment.")
@click.option("--to", "until", type=Timestamp(), help="Only events up to this moment.")
@db_option()
@json_option
def trace(device: str, since: datetime | None, until: datetime | None, db: Path | str, as_json: bool) -> None:
    """Every event that concerns DEVICE, its result, why (the evidence: see #seq), and the state after it.

    \b
    Example:
      license-ledger trace kids-tablet --json
      license-ledger trace kids-tablet --from 2025-05-01T00:00:00Z --to 2025-07-01T00:00:00Z
    """
    with Ledger.open(db, read_only=True) as ledger:
        entries = ledger.trace(device, since, until)
    if as_json:
        print_json(entries)
    else:
        render.console().print(render.trace_table(device, entries))


@click.command()
@click.option("--expect-head", metavar="SEQ:HASH", help="A head noted earlier: catches a truncated log.")
@db_option()
@json_option
def verify(expect_head: str | None, db: Path | str, as_json: bool) -> None:
    """Check that nothing in the store was altered, removed or reordered.

    Exit 0 and print the chain head (SEQ:HASH) when intact; exit 1 naming the
    first bad seq. Note the head; --expect-head takes it (all 64 hex digits).

    \b
    Example:
      license-ledger verify
      license-ledger verify --expect-head 38:913d0914e83191c7a1f8eb21e3e8fe4324d56bf98899d654f8004f935ee9be59
    """
    noted = None if expect_head is None else _noted_head(expect_head)
    try:
        with Ledger.open(db, read_only=True) as ledger:
            total = ledger.backend.head()[0]
            with render.progress("Verifying", total) as advance:
                report = ledger.verify(expect_head=noted, progress=advance)
    except DamagedLedger as damaged:
        # Damage found while opening is still verify's finding: exit 1, not a usage error.
        report = VerifyReport(ok=False, events=0, head_seq=0, head_hash=None, problem=str(damaged))
    if as_json:
        print_json(report)
    elif report.ok:
        click.echo(render.verify_text(report))
    else:
        click.echo(f"Error: {render.verify_text(report)}", err=True)
    if not report.ok:
        raise click.exceptions.Exit(1)


@click.command()
@click.option("--as-of", type=Timestamp(), help="Replay only the events up to this moment.")
@db_option()
@json_option
def replay(as_of: datetime | None, db: Path | str, as_json: bool) -> None:
    """Replay the whole log from scratch and summarise devices and results.

    \b
    Example:
      license-ledger replay --as-of 2025-12-31T23:59:59Z
    """
    with (
        Ledger.open(db, read_only=True) as ledger,
        render.progress("Replaying", ledger.backend.head()[0]) as advance,
    ):
        summary = ledger.replay(as_of, progress=advance)
    if as_json:
        print_json(summary)
    else:
        render.console().print(render.replay_tables(summary))


_HEAD = re.compile(r"(?P<seq>[0-9]{1,19}):(?P<hash>[0-9a-fA-F]{64})")


def _noted_head(text: str) -> tuple[int, str]:
    found = _HEAD.fullmatch(text.strip())
    if found is None:
        shown = repr(text) if len(text) <= 90 else repr(text[:87]) + "..."
        raise click.BadParameter(
            f"expected SEQ:HASH (a number, a colon, 64 hex digits, as `verify` prints), found {shown}",
            param_hint="--expect-head",
        )
    return int(found["seq"]), found["hash"].lower()


@click.command()
@db_option()
def rebuild(db: Path | str) -> None:
    """Throw away everything derived (results, statuses, snapshot) and derive it anew from the log.

    One transaction; the events and the chain head are untouched. Use it after
    upgrading license-ledger, or when `verify` finds the projection damaged.

    \b
    Example:
      license-ledger rebuild --db shop.db
    """
    with Ledger.open(db, create=False) as ledger:
        total = ledger.backend.head()[0]
        with render.progress("Rebuilding", total) as advance:
            count = ledger.rebuild(progress=advance)
    click.echo(f"Rebuilt the projection of {render.count(count, 'event')} from the log.")


@click.command()
@db_option()
def migrate(db: Path | str) -> None:
    """Bring a file written by an older license-ledger to this version's tables.

    One transaction: the events are kept as they are (so the chain head stays),
    results and statuses are derived anew. Read commands refuse an older file
    until it is migrated; writing commands migrate it when they open it.

    \b
    Example:
      license-ledger migrate --db old.db
    """
    with (
        render.progress("Migrating", None) as advance,
        Ledger.open(db, create=False, progress=advance) as ledger,
    ):
        done = ledger.migrated
        head = ledger.backend.head()
    if done is None:
        click.echo(f"{shown(db)}: already at store schema {ledger.backend.found_version}; nothing to do.")
        return
    head_text = f"{done.head_seq}:{done.head_hash}" if done.head_hash else "empty log"
    click.echo(
        f"Migrated {shown(db)} from store schema {done.from_version} to {done.to_version}: "
        f"{render.count(done.events, 'event')} kept, projection derived anew.\nChain head: {head_text}"
    )
    assert head[0] == done.head_seq


@click.command()
@click.option("--from", "source", required=True, type=Location(), help="The ledger to copy (file or URL).")
@click.option("--to", "target", required=True, type=Location(), help="An empty store (file or URL).")
def copy(source: Path | str, target: Path | str) -> None:
    """Copy a ledger into an empty store, between SQLite and PostgreSQL either way.

    The events go over as they are (seq, times, payloads, chain hashes), the
    target derives results and statuses anew, and the copy is verified. A
    target that holds events is refused.

    \b
    Example:
      license-ledger copy --from shop.db --to postgresql://postgres@127.0.0.1:5432/test
    """
    with Ledger.open(source, read_only=True) as ledger:
        total = ledger.backend.head()[0]
        with new_file_kept_only_on_success(target), render.progress("Copying", total) as advance:
            report = ledger.copy_to(target, progress=advance)
    if not report.ok:
        click.echo(f"Error: the copy at {shown(target)}: {render.verify_text(report)}", err=True)
        raise click.exceptions.Exit(1)
    head = f"seq {report.head_seq} hash {report.head_hash}" if report.head_hash else "empty log"
    click.echo(
        f"Copied {render.count(report.events, 'event')} from {shown(source)} to {shown(target)}; "
        f"verified.\nChain head: {head}"
    )

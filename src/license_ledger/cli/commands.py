"""The ``license-ledger`` command line: parse, call the library, format.

Exit codes: 0 success; 1 ``verify`` found damage; 2 refused input or a usage
error (a one-line message on standard error that says nothing was stored).
Errors become exit codes in one place, :class:`LedgerGroup`.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import msgspec

from .._version import __version__
from ..engine.moments import moment
from ..engine.rules import mermaid
from ..engine.schemas import event_schemas
from ..errors import DamagedLedger, InputRefused, LedgerError
from ..ledger import Ledger
from ..service.tokens import ROLES, list_tokens, new_token, revoke_token
from ..store.audit import VerifyReport
from ..store.open import is_url, shown
from . import demo, render

F = TypeVar("F", bound=Callable[..., Any])
_json = msgspec.json.Encoder()


class LedgerGroup(click.Group):
    """Turns the library's errors into one-line messages and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InputRefused as refused:
            click.echo(f"Error: {refused}. Nothing was stored.", err=True)
            raise click.exceptions.Exit(2) from None
        except LedgerError as error:
            click.echo(f"Error: {error}", err=True)
            raise click.exceptions.Exit(2) from None


class Timestamp(click.ParamType):
    """An RFC 3339 timestamp (``Z`` or an offset), converted to UTC."""

    name = "TIMESTAMP"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        name = f"--{param.name.replace('_', '-')}" if param is not None and param.name else "time"
        try:
            checked = moment(value, field=name)
        except InputRefused as refused:
            self.fail(f"expected {refused.expected}, found {refused.found}", param, ctx)
        assert checked is not None
        return checked


class Location(click.ParamType):
    """Where a ledger is: the path of a file, or a ``postgresql://`` URL (kept as text)."""

    name = "PATH|URL"

    def __init__(self) -> None:
        self._path = click.Path(dir_okay=False, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path | str:
        if isinstance(value, str) and is_url(value):
            return value
        converted: Path = self._path.convert(value, param, ctx)
        return converted


def db_option(default: str = "license-ledger.db") -> Callable[[F], F]:
    return click.option(
        "--db",
        "db",
        envvar="LICENSE_LEDGER_DB",
        default=default,
        show_default=True,
        type=Location(),
        help="The ledger: a file, or postgresql://USER@HOST:PORT/DBNAME?schema=NAME (also LICENSE_LEDGER_DB).",
    )


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def _print_json(value: Any) -> None:
    click.echo(_json.encode(value).decode())


@click.group(cls=LedgerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="license-ledger")
def main() -> None:
    """An append-only, tamper-evident log of license events, replayed by an
    explicit state machine into each device's license status.
    """


@main.command()
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
    with _new_file_kept_only_on_success(db), Ledger.open(db) as ledger:
        appended = ledger.append_lines(lines)
    if as_json:
        for a in appended:
            _print_json(a)
        return
    out = render.console()
    out.print(render.appended_table(appended))
    repeated = sum(not a.stored for a in appended)
    note = f" ({repeated} already stored)" if repeated else ""
    out.print(f"Stored {len(appended) - repeated} events{note}.")


@main.command()
@click.argument("device")
@click.option("--as-of", type=Timestamp(), help="The moment to judge at (default: now).")
@db_option()
@json_option
def status(device: str, as_of: datetime | None, db: Path | str, as_json: bool) -> None:
    """The license status of DEVICE: state, license, backup, buttons shown.

    \b
    Example:
      license-ledger status home-laptop --as-of 2025-06-01T00:00:00Z
    """
    with Ledger.open(db, read_only=True) as ledger:
        result = ledger.status(device, as_of)
    if as_json:
        _print_json(result)
    else:
        render.console().print(render.status_panel(result))


@main.command()
@click.argument("device")
@db_option()
@json_option
def trace(device: str, db: Path | str, as_json: bool) -> None:
    """Every event that concerns DEVICE, its result, why, and the state after it.

    \b
    Example:
      license-ledger trace kids-tablet --json
    """
    with Ledger.open(db, read_only=True) as ledger:
        entries = ledger.trace(device)
    if as_json:
        _print_json(entries)
    else:
        render.console().print(render.trace_table(device, entries))


@main.command()
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
            _print_json(a)
        return
    out = render.console()
    if appended:
        out.print(render.appended_table(appended))
    out.print(f"{len(appended)} licenses expired.")


@main.command()
@click.option("--expect-head", metavar="SEQ:HASH", help="A head noted earlier: catches a truncated log.")
@db_option()
@json_option
def verify(expect_head: str | None, db: Path | str, as_json: bool) -> None:
    """Check that nothing in the store was altered, removed or reordered.

    Exit 0 and print the chain head when intact; exit 1 naming the first bad seq.

    \b
    Example:
      license-ledger verify --expect-head 38:913d09...
    """
    noted = None if expect_head is None else _noted_head(expect_head)
    try:
        with Ledger.open(db, read_only=True) as ledger:
            report = ledger.verify(expect_head=noted)
    except DamagedLedger as damaged:
        # Damage found while opening is still verify's finding: exit 1, not a usage error.
        report = VerifyReport(ok=False, events=0, head_seq=0, head_hash=None, problem=str(damaged))
    if as_json:
        _print_json(report)
    elif report.ok:
        click.echo(render.verify_text(report))
    else:
        click.echo(f"Error: {render.verify_text(report)}", err=True)
    if not report.ok:
        raise click.exceptions.Exit(1)


@main.command()
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


@main.command()
@click.option("--as-of", type=Timestamp(), help="Replay only the events up to this moment.")
@db_option()
@json_option
def replay(as_of: datetime | None, db: Path | str, as_json: bool) -> None:
    """Replay the whole log from scratch and summarise devices and results.

    \b
    Example:
      license-ledger replay --as-of 2025-12-31T23:59:59Z
    """
    with Ledger.open(db, read_only=True) as ledger:
        if as_json or not sys.stdout.isatty():
            summary = ledger.replay(as_of)
        else:
            summary = _replay_with_progress(ledger, as_of)
    if as_json:
        _print_json(summary)
    else:
        render.console().print(render.replay_tables(summary))


def _replay_with_progress(ledger: Ledger, as_of: datetime | None) -> Any:
    with render.progress("Replaying", ledger.backend.head()[0]) as advance:
        return ledger.replay(as_of, progress=advance)


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


@main.command()
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


@main.command()
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
    head_text = f"seq {done.head_seq} hash {done.head_hash}" if done.head_hash else "empty log"
    click.echo(
        f"Migrated {shown(db)} from store schema {done.from_version} to {done.to_version}: "
        f"{render.count(done.events, 'event')} kept, projection derived anew.\nChain head: {head_text}"
    )
    assert head[0] == done.head_seq


@main.command()
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
        with _new_file_kept_only_on_success(target), render.progress("Copying", total) as advance:
            report = ledger.copy_to(target, progress=advance)
    if not report.ok:
        click.echo(f"Error: the copy at {shown(target)}: {render.verify_text(report)}", err=True)
        raise click.exceptions.Exit(1)
    head = f"seq {report.head_seq} hash {report.head_hash}" if report.head_hash else "empty log"
    click.echo(
        f"Copied {render.count(report.events, 'event')} from {shown(source)} to {shown(target)}; "
        f"verified.\nChain head: {head}"
    )


@main.command()
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


@main.command()
def diagram() -> None:
    """The state machine as Mermaid text, drawn from the rules table.

    \b
    Example:
      license-ledger diagram > rules.mmd
    """
    click.echo(mermaid())


@main.command(name="demo")
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


@main.command()
@db_option()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--tokens",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The token file (hashes and roles); required unless --insecure-no-auth.",
)
@click.option(
    "--tick-every",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds between automatic expiry ticks (0: none).",
)
@click.option("--max-body", default=1_048_576, show_default=True, type=click.IntRange(min=1), help="Bytes.")
@click.option("--max-batch", default=1000, show_default=True, type=click.IntRange(min=1), help="Events.")
@click.option("--insecure-no-auth", is_flag=True, help="Serve without tokens: every caller is admin.")
def serve(
    db: Path | str,
    host: str,
    port: int,
    tokens: Path | None,
    tick_every: float,
    max_body: int,
    max_batch: int,
    insecure_no_auth: bool,
) -> None:
    """Run the HTTP service over the ledger (see docs/service.md).

    \b
    Example:
      license-ledger serve --db shop.db --tokens tokens.json --port 8080
    """
    from ..service import app as http

    http.serve(
        db,
        host,
        port,
        tokens,
        tick_every,
        insecure_no_auth=insecure_no_auth,
        max_body=max_body,
        max_batch=max_batch,
    )


@main.group()
def token() -> None:
    """Tokens of the HTTP service (only their hashes are stored).

    \b
    Example:
      license-ledger token new --role auditor --tokens tokens.json
    """


@token.command(name="new")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--device", help="The device a `device` token is bound to.")
@click.option(
    "--tokens", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The token file."
)
def token_new(role: str, device: str | None, tokens: Path) -> None:
    """Create a token: prints it once and stores only its SHA-256.

    \b
    Example:
      license-ledger token new --role device --device laptop-1 --tokens tokens.json
    """
    click.echo(new_token(tokens, role, device))


@token.command(name="list")
@click.option(
    "--tokens", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The token file."
)
@json_option
def token_list(tokens: Path, as_json: bool) -> None:
    """The tokens of a token file: id (the start of its hash), role, device, created.

    \b
    Example:
      license-ledger token list --tokens tokens.json
    """
    entries = list_tokens(tokens)
    if as_json:
        _print_json(entries)
        return
    for entry in entries:
        device = f"  device {entry.device}" if entry.device else ""
        click.echo(f"{entry.id}  {entry.role:<8}  created {entry.created_at}{device}")
    click.echo(f"{len(entries)} tokens.")


@token.command(name="revoke")
@click.argument("token_id")
@click.option(
    "--tokens", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The token file."
)
def token_revoke(token_id: str, tokens: Path) -> None:
    """Remove the token whose id (from `token list`) starts with TOKEN_ID.

    A running service refuses it from its next request on.

    \b
    Example:
      license-ledger token revoke 9f2c41d07ab3 --tokens tokens.json
    """
    revoked = revoke_token(tokens, token_id)
    device = f" (device {revoked.device})" if revoked.device else ""
    click.echo(f"Revoked {revoked.id}: {revoked.role}{device}, created {revoked.created_at}.")


@contextmanager
def _new_file_kept_only_on_success(path: Path | str) -> Iterator[None]:
    """A refused append to a path that held no file leaves no file behind (a database is left alone)."""
    if not isinstance(path, Path):
        yield
        return
    existed = path.exists()
    try:
        yield
    except BaseException:
        if not existed:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        raise


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

"""Commands of the HTTP service: serve, and the tokens its callers present."""

from __future__ import annotations

from pathlib import Path

import click

from ..service.tokens import ROLES, list_tokens, new_token, revoke_token
from .options import db_option, json_option, print_json


@click.command()
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
@click.option(
    "--max-clock-skew",
    default=300.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds an `at` or a tick's `now` may be ahead of the service's clock.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes that serve, each with its own ledger connections  [default: the number of CPUs]",
)
@click.option("--insecure-no-auth", is_flag=True, help="Serve without tokens: every caller is admin.")
def serve(
    db: Path | str,
    host: str,
    port: int,
    tokens: Path | None,
    tick_every: float,
    max_body: int,
    max_batch: int,
    max_clock_skew: float,
    workers: int | None,
    insecure_no_auth: bool,
) -> None:
    """Run the HTTP service over the ledger (see docs/service.md).

    \b
    Example:
      license-ledger serve --db shop.db --tokens tokens.json --port 8080
    """
    from ..service import app as http
    from ..service.workers import cpu_count

    http.serve(
        db,
        host,
        port,
        tokens,
        tick_every,
        insecure_no_auth=insecure_no_auth,
        max_body=max_body,
        max_batch=max_batch,
        max_clock_skew=max_clock_skew,
        workers=workers or cpu_count(),
    )


@click.group()
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
        print_json(entries)
        return
    for entry in entries:
        device = f"  device {entry.device}" if entry.device else ""
        click.echo(f"{entry.id}  {entry.role:<8}  created {entry.created_at}{device}")
    click.echo(f"{len(entries)} token." if len(entries) == 1 else f"{len(entries)} tokens.")


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

"""The ``license-ledger`` command line: parse, call the library, format.

Exit codes: 0 success; 1 ``verify`` found damage; 2 refused input or a usage
error (a one-line message on standard error that says nothing was stored).
Errors become exit codes in one place, :class:`LedgerGroup`.
"""

from __future__ import annotations

from typing import Any

import click

from .._version import __version__
from ..errors import InputRefused, LedgerError
from . import audit_commands, forensic_commands, log_commands, service_commands, tool_commands


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


@click.group(cls=LedgerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="license-ledger")
def main() -> None:
    """An append-only, tamper-evident log of license events, replayed by an
    explicit state machine into each device's license status.
    """


for command in (
    log_commands.append,
    audit_commands.status,
    audit_commands.trace,
    log_commands.tick,
    audit_commands.verify,
    log_commands.export,
    audit_commands.replay,
    audit_commands.rebuild,
    audit_commands.migrate,
    forensic_commands.diff,
    forensic_commands.first,
    forensic_commands.devices,
    forensic_commands.what_if,
    tool_commands.schema,
    tool_commands.diagram,
    tool_commands.demo_command,
    service_commands.serve,
    service_commands.token,
):
    main.add_command(command)

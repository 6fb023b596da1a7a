"""The ``license-ledger`` command line: parse, call the library, format.

Exit codes: 0 success; 1 ``verify`` found damage; 2 refused input or a usage
error (a one-line message on standard error that says nothing was stored).
Errors become exit codes in one place, :class:`LedgerGroup`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click

from .._version import __version__
from ..errors import InputRefused, LedgerError
from . import (
    audit_commands,
    forensic_commands,
    inspect_commands,
    log_commands,
    service_commands,
    tool_commands,
)

_WHOLE = "\u2011"  # a non-breaking hyphen, while the help is wrapped


class _HelpFormatter(click.HelpFormatter):
    """Wraps help without breaking a hyphenated word (``license-ledger.db``) across lines."""

    def write_dl(self, rows: Iterable[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
        start = len(self.buffer)
        kept = [(term, text.replace("-", _WHOLE)) for term, text in rows]
        super().write_dl(kept, col_max, col_spacing)
        self.buffer[start:] = [part.replace(_WHOLE, "-") for part in self.buffer[start:]]

    def write_text(self, text: str) -> None:
        start = len(self.buffer)
        super().write_text(text.replace("-", _WHOLE))
        self.buffer[start:] = [part.replace(_WHOLE, "-") for part in self.buffer[start:]]


class _Context(click.Context):
    formatter_class = _HelpFormatter


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
    audit_commands.copy,
    tool_commands.schema,
    tool_commands.diagram,
    tool_commands.demo_command,
    service_commands.serve,
    service_commands.token,
    inspect_commands.inspect,
):
    main.add_command(command)


def _use_our_help(command: click.Command) -> None:
    command.context_class = _Context
    for sub in getattr(command, "commands", {}).values():
        _use_our_help(sub)


_use_our_help(main)

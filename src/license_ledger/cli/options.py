"""Shared pieces of the commands: options, the time type, JSON output."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import msgspec

from ..engine.moments import moment
from ..errors import InputRefused

F = TypeVar("F", bound=Callable[..., Any])
_json = msgspec.json.Encoder()


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


def db_option(default: str = "license-ledger.db") -> Callable[[F], F]:
    return click.option(
        "--db",
        "db",
        envvar="LICENSE_LEDGER_DB",
        default=default,
        show_default=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="The ledger file (also LICENSE_LEDGER_DB).",
    )


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def print_json(value: Any) -> None:
    """One JSON document on standard output."""
    click.echo(_json.encode(value).decode())


def print_json_lines(values: Iterable[Any], chunk: int = 10_000) -> None:
    """One JSON document a line on standard output, written a chunk at a time."""
    sys.stdout.flush()
    out = sys.stdout.buffer
    pending: list[Any] = []
    for value in values:
        pending.append(value)
        if len(pending) >= chunk:
            out.write(_json.encode_lines(pending))
            pending.clear()
    if pending:
        out.write(_json.encode_lines(pending))
    out.flush()

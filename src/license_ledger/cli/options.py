"""Shared pieces of the commands: options, the time type, JSON output."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import msgspec

from ..engine.moments import moment
from ..errors import InputRefused
from ..store.open import is_url

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


@contextmanager
def new_file_kept_only_on_success(path: Path | str) -> Iterator[None]:
    """A refused write to a path that held no file leaves no file behind (a database is left alone)."""
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

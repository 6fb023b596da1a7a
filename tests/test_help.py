"""`--help` as a newcomer reads it: defaults whole on one line, examples that run."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from license_ledger.cli import main
from test_readme import _commands


@pytest.mark.parametrize("columns", [60, 80, 100])
@pytest.mark.parametrize("name", [name for name, _ in _commands(main)])
def test_the_default_file_is_never_wrapped_across_lines(name: str, columns: int) -> None:
    result = CliRunner().invoke(main, [*name.split(), "--help"], terminal_width=columns)
    assert result.exit_code == 0
    assert "license-\n" not in result.output
    if "--db" in result.output and name != "demo":
        assert "license-ledger.db" in result.output


def test_the_verify_example_shows_a_head_that_expect_head_accepts() -> None:
    text = CliRunner().invoke(main, ["verify", "--help"]).output
    (head,) = re.findall(r"^ +license-ledger verify --expect-head (\S+)$", text, flags=re.M)
    assert re.fullmatch(r"[0-9]+:[0-9a-f]{64}", head)

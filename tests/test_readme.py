"""The README's promises: its example runs, every command is documented."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from license_ledger.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_30_second_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    [example] = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    exec(compile(example, str(README), "exec"), {})
    assert (tmp_path / "shop.db").exists()


def test_every_command_is_in_the_cli_reference_with_an_example() -> None:
    text = README.read_text()
    for name, command in _commands(main):
        assert f"| `{name}" in text, f"command {name} is missing from the README's CLI table"
        assert f"`license-ledger {name}" in text, f"command {name} has no example in the README"
        assert "Example:" in (command.help or ""), f"command {name}'s help has no example"


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, f"{prefix}{name} ")
        else:
            found.append((f"{prefix}{name}", command))
    return found


def test_the_two_fresh_machine_commands_exist() -> None:
    root = README.parent
    text = README.read_text()
    for script in ("scripts/demo.sh", "scripts/test.sh"):
        assert f"./{script}" in text
        assert (root / script).exists()
    assert "scripts/test.sh" in (root / ".ci" / "run").read_text()

"""docs/forensics.md runs as written: each shell block, in order, in one empty folder; its output as shown."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "forensics.md"
#: A shell block, and the text block right after it (its standard output), if any.
_BLOCK = re.compile(r"```sh\n(.*?)```\n(?:\n```text\n(.*?)```\n)?", re.S)


def test_the_walk_through_runs_as_written(tmp_path: Path) -> None:
    blocks = _BLOCK.findall(DOC.read_text())
    assert len(blocks) >= 8 and blocks[0][0].startswith("license-ledger demo --db demo.db")
    # `license-ledger` and `python3` as this test's interpreter installs them.
    scripts = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}", "COLUMNS": "80"}
    for script, expected in blocks:
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (script, done.stderr)
        if expected:
            shown = "\n".join(line.rstrip() for line in done.stdout.splitlines()) + "\n"
            assert shown == expected, script
            assert all(
                len(line) <= 80 for line in expected.splitlines() if not line.startswith(("{", "Error"))
            ), script


@pytest.mark.parametrize("command", ["diff", "first", "devices", "what-if"])
def test_every_forensic_command_is_in_the_walk_through(command: str) -> None:
    assert f"license-ledger {command} " in DOC.read_text()

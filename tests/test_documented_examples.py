"""Every shell and Python block of README.md, docs/service.md and docs/storage.md runs as written, in order.

Each page runs in a fresh folder holding a copy of ``examples/`` (as a clone
of the repository would), its shell blocks in one shell session (variables
set by a block, such as ``$ADMIN``, reach the next ones), and ``license-ledger
serve ... &`` started by the test on a free port (the blocks' address is
rewritten to it). What a block prints is compared with the ``json`` or
``text`` block that follows it on the page, times, tokens and hashes aside.
A block under ``<!-- not run by the tests: why -->`` is skipped. The
README's table of commands runs too, row by row.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from live_service import Service, start_service

ROOT = Path(__file__).resolve().parents[1]
_FENCE = re.compile(
    r"^(?P<skip><!-- not run by the tests: [^>]+-->\n)?```(?P<lang>[a-z]*)\n(?P<body>.*?)^```$", re.S | re.M
)
_SERVE = re.compile(r"^license-ledger serve (?P<args>.*?)\s*&\s*$", re.M)
_ADDRESS = re.compile(r"127\.0\.0\.1:(8000|8080)")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
_HASH = re.compile(r"\b[0-9a-f]{64}\b")
_TOKEN = re.compile(r"llt_[A-Za-z0-9_-]{43}")
#: Commands of the README's table that cannot run as a row on their own, and why.
_TABLE_SKIPS = {
    "serve": "runs until stopped (the service block below starts it)",
    "token revoke": "takes the id that `token list` printed",
    "inspect": "runs until stopped (tests/test_inspector_*.py drive it)",
    "copy": "wants an empty target, so a second run of the page refuses it (tests/test_postgres.py copies both ways)",
}


@dataclass
class Block:
    lang: str
    body: str
    skipped: bool
    #: The json or text block right after it on the page: what it prints.
    shows: Block | None = None
    at: int = 0


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    found: list[Block] = []
    end = 0
    for match in _FENCE.finditer(text):
        block = Block(match["lang"], match["body"], match["skip"] is not None, at=match.start())
        previous = found[-1] if found else None
        if (
            block.lang in ("json", "text")
            and previous is not None
            and previous.lang in ("sh", "python")
            and not text[end : match.start()].strip()
        ):
            previous.shows = block
        found.append(block)
        end = match.end()
    return found


def masked(value: Any) -> Any:
    if isinstance(value, str):
        return _TOKEN.sub("<token>", _HASH.sub("<hash>", _TIME.sub("<time>", value)))
    if isinstance(value, list):
        return [masked(item) for item in value]
    if isinstance(value, dict):
        return {key: masked(item) for key, item in value.items()}
    return value


def json_documents(text: str) -> list[Any]:
    decoder, documents, position = json.JSONDecoder(), [], 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        document, position = decoder.raw_decode(text, position)
        documents.append(document)
    return documents


def assert_shows(block: Block, printed: str, page: str) -> None:
    shows = block.shows
    if shows is None:
        return
    where = f"{page}: the block {block.body.strip().splitlines()[0]!r}"
    if shows.lang == "json":
        assert masked(json_documents(printed)) == masked(json_documents(shows.body)), where
    else:
        assert masked(printed).rstrip() == masked(shows.body).rstrip(), where


class Reader:
    """Runs a page's blocks in order, in one folder, one shell session, one service."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.services: list[Service] = []
        self.address = "127.0.0.1:8000"
        self.env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "COLUMNS": "100",
        }
        self.env.pop("LICENSE_LEDGER_DB", None)
        shutil.copytree(ROOT / "examples", folder / "examples")

    def shell(self, body: str) -> str:
        """Run a shell block; a ``license-ledger serve ... &`` in it is started by the test, in its place."""
        printed, position = "", 0
        for serve in _SERVE.finditer(body):
            printed += self._run(body[position : serve.start()])
            self._serve(shlex.split(serve["args"]))
            position = serve.end()
        return printed + self._run(body[position:])

    def _run(self, body: str) -> str:
        body = re.sub(r"^sleep [0-9.]+.*$", "", body, flags=re.M)  # the test waits for /health instead
        body = _ADDRESS.sub(self.address, body)
        if not body.strip():
            return ""
        script = f"set -a\n[ -f .page-env ] && . ./.page-env\n{body}\nexport -p > .page-env\n"
        done = subprocess.run(
            ["bash", "-c", script], cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"{body}\n{done.stderr}"
        return done.stdout

    def python(self, body: str, monkeypatch: pytest.MonkeyPatch) -> str:
        monkeypatch.chdir(self.folder)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(body, "block", "exec"), {})
        return printed.getvalue()

    def command(self, line: str) -> None:
        done = subprocess.run(
            shlex.split(line), cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"{line}\n{done.stderr}"

    def _serve(self, args: list[str]) -> None:
        options = dict(zip(args[::2], args[1::2], strict=False))
        db = self.folder / options.pop("--db", "license-ledger.db")
        tokens = options.pop("--tokens", None)
        options.pop("--port", None)
        rest = tuple(part for pair in options.items() for part in pair)
        service = start_service(db, self.folder / tokens if tokens else None, cli=rest)
        self.services.append(service)
        self.address = service.url.removeprefix("http://")

    def stop(self) -> None:
        for service in self.services:
            assert service.stop(), service.log_text()


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[Reader]:
    running = Reader(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def read(page: Path, reader: Reader, monkeypatch: pytest.MonkeyPatch, *, table_at: str | None = None) -> int:
    """Run a page's blocks in order (and the table of commands where ``table_at`` begins)."""
    table = page.read_text().index(table_at) if table_at else None
    ran = 0
    for block in blocks(page):
        if table is not None and block.at > table:
            for line in table_commands(page):
                reader.command(line)
            table = None
        if block.skipped or block.lang not in ("sh", "python"):
            continue
        printed = reader.shell(block.body) if block.lang == "sh" else reader.python(block.body, monkeypatch)
        assert_shows(block, printed, page.name)
        ran += 1
    return ran


def table_commands(page: Path) -> list[str]:
    """The example of each row of the README's table of commands, in order."""
    section = page.read_text().split("## The command line", 1)[1].split("\n## ", 1)[0]
    found = []
    for row in section.splitlines():
        cells = row.split(" | ")
        if len(cells) < 3 or not row.startswith("| `"):
            continue
        name = cells[0].strip("| `").split(" ")[0:2]
        command = " ".join(name) if name[0] == "token" else name[0]
        if command in _TABLE_SKIPS:
            continue
        (example,) = re.findall(r"`(license-ledger [^`]+)`", cells[-1])
        found.append(example)
    return found


def test_the_readme_runs_as_written(reader: Reader, monkeypatch: pytest.MonkeyPatch) -> None:
    page = ROOT / "README.md"
    assert len(table_commands(page)) == 18
    assert read(page, reader, monkeypatch, table_at="## The command line") == 2


def test_the_readme_runs_again_in_the_same_folder(reader: Reader, monkeypatch: pytest.MonkeyPatch) -> None:
    page = ROOT / "README.md"
    (python,) = [block for block in blocks(page) if block.lang == "python"]
    for _ in range(2):
        printed = reader.python(python.body, monkeypatch)
        assert_shows(python, printed, page.name)
    for _ in range(2):
        for line in table_commands(page):
            reader.command(line)


def test_the_service_guide_runs_as_written(reader: Reader, monkeypatch: pytest.MonkeyPatch) -> None:
    assert shutil.which("curl"), "the service guide's examples use curl"
    assert read(ROOT / "docs" / "service.md", reader, monkeypatch) >= 15


def test_the_storage_guide_runs_as_written(reader: Reader, monkeypatch: pytest.MonkeyPatch) -> None:
    assert shutil.which("sqlite3"), "the storage guide's examples use the sqlite3 shell"
    reader.command("license-ledger append examples/events.jsonl")  # the file the guide browses
    assert read(ROOT / "docs" / "storage.md", reader, monkeypatch) == 2

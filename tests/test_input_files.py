"""What `append` says about files that are JSON but not JSON Lines, empty files, and small counts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from license_ledger.cli import main

ONE = '{"type": "DeviceRegistered", "at": "2026-01-06T09:00:00Z", "device": "laptop", "app_version": "22.1"}'
CODE = '{"type": "CodeIssued", "at": "2026-01-05T10:00:00Z", "code": "AAAAA-BBBBB-CCCCC-DDDDD", "kind": "commercial", "term_days": 1, "max_devices": 1}'


def append(tmp_path: Path, content: bytes, *options: str) -> Result:
    source = tmp_path / "events.json"
    source.write_bytes(content)
    return CliRunner().invoke(main, ["append", str(source), "--db", str(tmp_path / "x.db"), *options])


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (
            f"[{ONE}, {ONE}]\n".encode(),
            "found one JSON array of 2 items (`jq -c '.[]' FILE` turns it into JSON Lines)",
        ),
        (
            f"[\n  {CODE}\n]\n".encode(),
            "found one JSON array of 1 item spread over 3 lines (`jq -c '.[]' FILE` turns it into JSON Lines)",
        ),
        (
            b'\xef\xbb\xbf{\n  "type": "DeviceRegistered",\n  "device": "laptop",\n  "app_version": "22.1"\n}\n',
            "found one JSON object spread over 5 lines, pretty-printed (`jq -c . FILE` puts each object on one line)",
        ),
        (
            f'{ONE}\n{{\n  "type": "TryAgainClicked",\n  "device": "laptop"\n}}\n'.encode(),
            "found `{` alone on a line: pretty-printed JSON? (`jq -c . FILE` puts each object on one line)",
        ),
    ],
)
def test_json_that_is_not_json_lines_says_what_it_looks_like(
    tmp_path: Path, content: bytes, found: str
) -> None:
    result = append(tmp_path, content)
    assert result.exit_code == 2
    line = 2 if content.startswith(ONE.encode()) else 1
    assert result.stderr == (
        f"Error: line {line}: expected JSON Lines: one event object per line, {found}. Nothing was stored.\n"
    )
    assert "AAAAA" not in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_a_bad_event_on_a_line_is_still_named_for_itself(tmp_path: Path) -> None:
    result = append(tmp_path, f'{ONE}\n["not", "an", "event"]\n'.encode())
    assert result.stderr.startswith("Error: line 2, `$`: expected an event object, found a JSON array")


def test_a_byte_order_mark_is_skipped(tmp_path: Path) -> None:
    result = append(tmp_path, b"\xef\xbb\xbf" + ONE.encode() + b"\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.endswith("Stored 1 event.\n")


@pytest.mark.parametrize("content", [b"", b"\n\n", b"\xef\xbb\xbf\n", b"  \r\n"])
def test_an_empty_file_stores_nothing_and_says_so(tmp_path: Path, content: bytes) -> None:
    result = append(tmp_path, content)
    assert (result.exit_code, result.stdout) == (
        0,
        f"No events in {tmp_path / 'events.json'}: nothing was stored.\n",
    )
    assert append(tmp_path, content, "--json").stdout == ""
    verified = CliRunner().invoke(main, ["verify", "--db", str(tmp_path / "x.db")])
    assert verified.stdout.startswith("OK: 0 events;")


def test_counts_of_one_are_singular(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    lines = (
        f"{CODE}\n{ONE}\n"
        + '{"type": "CodeEntered", "at": "2026-01-06T09:01:00Z", "device": "laptop", "code": "AAAAA-BBBBB-CCCCC-DDDDD"}\n'
    )
    assert CliRunner().invoke(main, ["append", "-", "--db", db], input=lines).exit_code == 0
    nothing = CliRunner().invoke(main, ["tick", "--now", "2026-01-06T10:00:00Z", "--db", db])
    assert nothing.stdout == "No license was due: nothing was appended.\n"
    ticked = CliRunner().invoke(main, ["tick", "--now", "2026-01-07T09:01:00Z", "--db", db])
    assert ticked.stdout.endswith("\n1 license expired.\n")
    replayed = CliRunner().invoke(main, ["replay", "--db", db])
    assert replayed.stdout.startswith("Replayed 4 events: 1 device.\n")

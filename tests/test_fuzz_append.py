"""Fuzzing `license-ledger append`: whatever arrives, exit 0 or 2, never a traceback, never half a batch.

Hypothesis feeds the command byte strings, JSON values and events with one
field made wrong, on top of a ledger that already holds a small story. After
every input the log either grew by a whole batch or not at all, and the file
verifies at the end.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from license_ledger import Ledger
from license_ledger.cli import main
from stores import CODE_A, at, entered, issued, registered

STORY = [issued(CODE_A, max_devices=2, at=at(0)), registered("d1", at=at(0)), entered("d1", CODE_A, at=at(1))]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)

VALID = [
    {"type": "DeviceRegistered", "device": "fz", "app_version": "1.0"},
    {"type": "CodeEntered", "device": "d1", "code": "AAAAA-BBBBB-CCCCC-00009"},
    {"type": "TryAgainClicked", "device": "d1"},
    {
        "type": "CodeIssued",
        "code": "FUZZA-AAAAA-AAAAA-00001",
        "kind": "trial",
        "term_days": 5,
        "max_devices": 1,
    },
]


@st.composite
def broken_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with one field replaced by an arbitrary JSON value (or one added)."""
    event = dict(draw(st.sampled_from(VALID)))
    field = draw(st.sampled_from([*event, "at", "id", "purchased_at", "extra"]))
    event[field] = draw(json_values)
    return event


def as_lines(values: list[Any]) -> bytes:
    return b"".join(json.dumps(v).encode() + b"\n" for v in values)


inputs = st.one_of(
    st.binary(max_size=300),
    st.lists(json_values, min_size=1, max_size=3).map(as_lines),
    st.lists(broken_events(), min_size=1, max_size=3).map(as_lines),
    st.text(max_size=200).map(lambda text: text.encode("utf-16")),
    st.integers(1, 3000).map(lambda depth: b"[" * depth + b"]" * depth + b"\n"),
)


@pytest.fixture(scope="module")
def ledger_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "ledger.db"
    with Ledger.open(path) as ledger:
        ledger.append(STORY)
    return path


def head(path: Path) -> tuple[int, str | None]:
    with Ledger.open(path, read_only=True) as ledger:
        return ledger.backend.head()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=inputs)
def test_append_answers_every_input_with_a_result_or_a_one_line_refusal(
    ledger_path: Path, data: bytes
) -> None:
    before = head(ledger_path)
    result = CliRunner().invoke(main, ["append", "-", "--db", str(ledger_path), "--json"], input=data)
    assert result.exit_code in (0, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    after = head(ledger_path)
    if result.exit_code == 2:
        assert after == before  # nothing of a refused batch
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
        assert CODE_A.upper() not in result.stderr
    else:
        stored = [json.loads(line) for line in result.stdout.splitlines()]
        assert after[0] == before[0] + sum(1 for a in stored if a["stored"])


def test_the_fuzzed_file_still_verifies(ledger_path: Path) -> None:
    # Runs after the fuzzer in this module (same file): nothing it sent broke the ledger.
    with Ledger.open(ledger_path, read_only=True) as ledger:
        report = ledger.verify()
    assert report.ok, report

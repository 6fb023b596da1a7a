"""Hostile input at the codec: refused with InputRefused, never another exception.

Bytes in another encoding, JSON nested thousands deep, times at the ends of
the calendar, event Structs built with invalid content, bare codes where an
object belongs: each is refused with a message that says what was expected
and what was found (asserted whole), and no refusal repeats a raw code. A
hypothesis property throws arbitrary bytes and JSON values at the decoder.
Snapshots read back from a store are hostile bytes too.
"""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from license_ledger.engine.codec import decode_event, decode_numbered_lines, event_from_object, seal
from license_ledger.engine.codes import looks_like_code, normalise
from license_ledger.engine.events import EVENT_TYPES, CodeIssued, DeviceRegistered, TryAgainClicked
from license_ledger.engine.snapshot import SNAPSHOT_FORMAT, dump, load, same_state
from license_ledger.errors import InputRefused
from license_ledger.ledger import Ledger
from scenario import Scenario

CODE = "AAAAA-BBBBB-CCCCC-00001"
TRY_AGAIN = b'{"type": "TryAgainClicked", "device": "laptop"}'
BETWEEN = "a moment from 1970-01-01T00:00:00Z to before 9000-01-01T00:00:00Z"
NOT_SHOWN = "a value that may be an activation code (not shown)"


def refused(*lines: str | bytes) -> str:
    """The message of refusing a batch of input lines (decoded, then sealed, as an append does)."""
    with pytest.raises(InputRefused) as caught:
        for number, event in decode_numbered_lines(lines):
            seal(event, line=number)
    return str(caught.value)


# --- bytes: a file read in binary -------------------------------------------------------


def test_bytes_lines_decode_and_a_utf8_byte_order_mark_at_the_start_is_skipped() -> None:
    lines = [b"\xef\xbb\xbf" + TRY_AGAIN + b"\n", b"\n", TRY_AGAIN + b"\r\n"]
    assert list(decode_numbered_lines(lines)) == [
        (1, TryAgainClicked(device="laptop")),
        (3, TryAgainClicked(device="laptop")),
    ]
    assert list(decode_numbered_lines(["\ufeff" + TRY_AGAIN.decode()])) == [
        (1, TryAgainClicked(device="laptop"))
    ]


def test_a_byte_order_mark_elsewhere_is_not_skipped() -> None:
    assert refused(TRY_AGAIN, b"\xef\xbb\xbf" + TRY_AGAIN) == (
        "line 2: expected one JSON object per line, found malformed JSON"
        " (JSON is malformed: invalid character (byte 0))"
    )


def test_a_line_that_is_not_utf8_is_refused_naming_the_line_and_the_byte() -> None:
    latin1 = '{"type": "DeviceRegistered", "device": "café", "app_version": "21"}'.encode("latin-1")
    assert refused(TRY_AGAIN, latin1) == (
        "line 2: expected UTF-8 text (JSON Lines), found bytes that are not UTF-8 at byte 43 (Latin-1 or UTF-16?)"
    )


def test_a_utf16_file_is_recognised() -> None:
    text = TRY_AGAIN.decode() + "\n" + TRY_AGAIN.decode() + "\n"
    with_bom = text.encode("utf-16-le")
    assert refused(*(b"\xff\xfe" + with_bom).splitlines(keepends=True)) == (
        "line 1: expected UTF-8 text (JSON Lines), found UTF-16 text (the byte-order mark FF FE)"
    )
    assert refused(*text.encode("utf-16-be").splitlines(keepends=True)) == (
        "line 1: expected UTF-8 text (JSON Lines), found a NUL byte at byte 0 (UTF-16 text?)"
    )


def test_text_with_a_lone_surrogate_is_refused() -> None:
    assert refused('{"type": "TryAgainClicked", "device": "a\udc80"}') == (
        "line 1: expected UTF-8 text (JSON Lines), found text that cannot be UTF-8"
        " (a lone surrogate at character 40)"
    )


def test_the_ledger_refuses_a_binary_file_in_another_encoding_and_stores_nothing(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        lines = ('{"type": "DeviceRegistered", "device": "a", "app_version": "21"}\n').encode("utf-16")
        with pytest.raises(InputRefused) as caught:
            ledger.append_lines(lines.splitlines(keepends=True))
        assert caught.value.expected == "UTF-8 text (JSON Lines)"
        assert ledger.events() == []


# --- JSON nested too deeply -----------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, id="objects"),
        pytest.param(
            b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b', "type": "LicenseRemoved"}', id="before the type"
        ),
    ],
)
def test_json_nested_thousands_deep_is_refused(line: bytes) -> None:
    assert refused(line) == "line 1: expected an event object, found JSON nested too deeply"


def test_an_array_nested_thousands_deep_is_refused_as_an_array() -> None:
    assert refused(b"[" * 100_000 + b"]" * 100_000) == (
        "line 1, `$`: expected an event object, found a JSON array (append takes JSON Lines, one object per line)"
    )


def test_a_field_nested_thousands_deep_is_refused_as_the_wrong_type() -> None:
    line = (
        b'{"type": "CodeBlocked", "code": "'
        + CODE.encode()
        + b'", "reason": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}"
    )
    assert refused(line) == "line 1, `$.reason`: expected str | null, found array"


def test_a_number_too_large_to_hold_is_refused() -> None:
    line = (
        '{"type": "CodeIssued", "code": "'
        + CODE
        + '", "kind": "trial", "term_days": 1e400, "max_devices": 1}'
    )
    assert (
        refused(line) == "line 1, `$.term_days`: expected a number in range, found a number too large to hold"
    )


# --- times at the ends of the calendar ---------------------------------------------------


@pytest.mark.parametrize(
    ("at", "found"),
    [
        ("0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00+01:00"),
        ("9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59-01:00"),
        ("1969-12-31T23:59:59Z", "1969-12-31T23:59:59+00:00"),
        ("9000-01-01T00:00:00Z", "9000-01-01T00:00:00+00:00"),
    ],
)
def test_times_outside_1970_to_9000_are_refused(at: str, found: str) -> None:
    assert refused(TRY_AGAIN, f'{{"type": "TryAgainClicked", "device": "a", "at": "{at}"}}') == (
        f"line 2, TryAgainClicked, `$.at`: expected {BETWEEN}, found {found}"
    )
    issued = (
        f'{{"type": "CodeIssued", "code": "{CODE}", "kind": "trial", "term_days": 1, "max_devices": 1,'
        f' "at": "2025-01-01T00:00:00Z", "purchased_at": "{at}"}}'
    )
    assert refused(issued) == f"line 1, CodeIssued, `$.purchased_at`: expected {BETWEEN}, found {found}"


def test_times_at_the_bounds_are_kept() -> None:
    for at, utc in [
        ("1970-01-01T01:00:00+01:00", datetime(1970, 1, 1, tzinfo=UTC)),
        ("8999-12-31T23:59:59.999999Z", datetime(8999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ]:
        event = seal(decode_event(f'{{"type": "TryAgainClicked", "device": "a", "at": "{at}"}}'))
        assert event.at == utc and event.at.tzinfo is UTC


# --- event Structs: validated as JSON is ---------------------------------------------------


@pytest.mark.parametrize(
    ("event", "message"),
    [
        pytest.param(
            CodeIssued(code=CODE, kind="bogus", term_days=30, max_devices=1),  # type: ignore[arg-type]
            "line 1, CodeIssued, `$.kind`: expected one of commercial, trial, subscription, found 'bogus'",
            id="kind",
        ),
        pytest.param(
            CodeIssued(code=CODE, kind="trial", term_days=-5, max_devices=1),
            "line 1, CodeIssued, `$.term_days`: expected int >= 1, found -5",
            id="term_days",
        ),
        pytest.param(
            CodeIssued(code=CODE, kind="trial", term_days=30, max_devices=0),
            "line 1, CodeIssued, `$.max_devices`: expected int >= 1, found 0",
            id="max_devices",
        ),
        pytest.param(
            DeviceRegistered(device="a", app_version="21", at=datetime(2025, 1, 1)),
            'line 1, DeviceRegistered, `$.at`: expected datetime with a timezone component, found "2025-01-01T00:00:00"',
            id="naive datetime",
        ),
        pytest.param(
            DeviceRegistered(device="a/b", app_version="21"),
            "line 1, DeviceRegistered, `$.device`: expected str matching regex"
            " '^[A-Za-z0-9][A-Za-z0-9._:@-]*$', found \"a/b\"",
            id="device id with a slash",
        ),
        pytest.param(
            DeviceRegistered(device="a", app_version=21),  # type: ignore[arg-type]
            "line 1, DeviceRegistered, `$.app_version`: expected str, found int 21",
            id="mistyped field",
        ),
        pytest.param(
            DeviceRegistered(device=object(), app_version="21"),  # type: ignore[arg-type]
            "line 1: expected an event of JSON values (str, int, float, bool, None, datetime, lists and dicts),"
            " found a value that cannot be written as JSON (Encoding objects of type object is unsupported)",
            id="not JSON at all",
        ),
        pytest.param(
            DeviceRegistered(device="a\ud800", app_version="21"),
            "line 1: expected an event, found text that cannot be UTF-8 (a lone surrogate)",
            id="lone surrogate",
        ),
    ],
)
def test_a_struct_with_invalid_content_is_refused_and_nothing_is_stored(
    tmp_path: Path, event: Any, message: str
) -> None:
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        with pytest.raises(InputRefused) as caught:
            ledger.append([event])
        assert str(caught.value) == message
        assert ledger.events() == []


def test_a_valid_struct_is_accepted_as_it_was() -> None:
    event = CodeIssued(
        code=CODE, kind="trial", term_days=30, max_devices=2, at=datetime(2025, 1, 1, tzinfo=UTC)
    )
    assert event_from_object(event) == event
    sealed = seal(event)
    assert event_from_object(sealed) == sealed  # a stored (sealed) event goes through as well


def test_a_dict_that_cannot_be_json_is_refused() -> None:
    looped: dict[str, Any] = {"type": "TryAgainClicked"}
    looped["device"] = looped
    with pytest.raises(InputRefused) as caught:
        event_from_object(looped, line=4)
    assert str(caught.value) == "line 4: expected an event, found values nested too deeply"


# --- a raw code is never echoed back ---------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param(
            f'"{CODE}"', "line 1, `$`: expected an event object, found a JSON string", id="a bare code"
        ),
        pytest.param(
            f'["{CODE}"]',
            "line 1: expected JSON Lines: one event object per line, found one JSON array of 1 item"
            " (`jq -c '.[]' FILE` turns it into JSON Lines)",
            id="an array",
        ),
        pytest.param("42", "line 1, `$`: expected an event object, found a JSON number", id="a number"),
        pytest.param("true", "line 1, `$`: expected an event object, found a JSON boolean", id="a boolean"),
        pytest.param("null", "line 1, `$`: expected an event object, found JSON null", id="null"),
        pytest.param(
            f'{{"type": "{CODE}"}}',
            "line 1, `$.type`: expected a `type`, one of CodeIssued, CodeBlocked, DeviceRegistered, AppUpdated,"
            " ConsoleConnectionChanged, LicenseExpired, CodeEntered, TryAgainClicked, ActivateNowClicked,"
            f" LicenseRemoved, found {NOT_SHOWN}",
            id="as the type",
        ),
        pytest.param(
            f'{{"type": "CodeIssued", "code": "{CODE}", "kind": "{CODE}", "term_days": 1, "max_devices": 1}}',
            f"line 1, CodeIssued, `$.kind`: expected one of commercial, trial, subscription, found {NOT_SHOWN}",
            id="as a choice",
        ),
        pytest.param(
            f'{{"type": "TryAgainClicked", "device": "laptop", "{CODE.lower()}": true}}',
            "line 1, TryAgainClicked, `$`: expected only the fields of TryAgainClicked (type, device, at, id, v),"
            " found an unknown field whose name may be an activation code (not shown)",
            id="as a field name",
        ),
        pytest.param(
            f'{{"type": "TryAgainClicked", "device": "my code is {CODE}"}}',
            "line 1, TryAgainClicked, `$.device`: expected str matching regex"
            f" '^[A-Za-z0-9][A-Za-z0-9._:@-]*$', found {NOT_SHOWN}",
            id="inside a device id",
        ),
        pytest.param(
            f'{{"type": "TryAgainClicked", "device": ["{CODE}"]}}',
            "line 1, TryAgainClicked, `$.device`: expected str, found array that may be an activation code (not shown)",
            id="inside an array",
        ),
        pytest.param(
            f'{{"type": "TryAgainClicked", "device": "laptop", "at": "{CODE}"}}',
            "line 1, TryAgainClicked, `$.at`: expected an RFC 3339 timestamp such as 2026-01-31T12:00:00Z,"
            f" found {NOT_SHOWN}",
            id="as a time",
        ),
        pytest.param(
            f'{{"type": "AppUpdated", "device": "laptop", "app_version": "{CODE}"}}',
            f"line 1, AppUpdated, `$.app_version`: expected a PEP 440 version such as 21.3.1, found {NOT_SHOWN}",
            id="as a version",
        ),
        pytest.param(
            f'{{"type": "CodeIssued", "code": "{CODE}", "kind": "trial", "term_days": 1, "max_devices": 1,'
            f' "compatible_versions": "{CODE}"}}',
            "line 1, CodeIssued, `$.compatible_versions`: expected a PEP 440 version specifier such as"
            f" >=21.0,<23 (or empty for any), found {NOT_SHOWN}",
            id="as a specifier",
        ),
    ],
)
def test_a_code_in_the_wrong_place_is_not_echoed(line: str, message: str) -> None:
    assert refused(line) == message


def test_looks_like_code_is_what_a_user_could_have_typed_as_one() -> None:
    assert looks_like_code(CODE) and looks_like_code("aaaaa bbbbb ccccc 00001") and looks_like_code("x" * 25)
    assert not looks_like_code("laptop-of-the-team") and not looks_like_code("2026-01-31T12:00:00Z")


# --- the property: anything in, InputRefused or an event out -----------------------------------

CODES = [CODE, "aaaaa bbbbb ccccc 00002", "SECRTSECRTSECRT00003", "ZZZZZ-99999-ZZZZZ-99999"]
FIELDS = sorted({"type", *(name for t in EVENT_TYPES for name in t.__struct_fields__)})
TYPE_NAMES = [t.__name__ for t in EVENT_TYPES]
TIMES = [
    "2025-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "2025-01-01T00:00:00",
]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

any_text = st.text(st.characters(codec=None), max_size=30)  # lone surrogates included
codes = st.sampled_from(CODES)
code_inside = st.builds(lambda before, code, after: before + code + after, any_text, codes, any_text)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text
    | codes
    | code_inside
    | st.sampled_from(TIMES + TYPE_NAMES + ["commercial", "trial", "21.3", ">=21"])
)
keys = st.sampled_from(FIELDS) | codes | any_text
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
event_like = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPE_NAMES) | codes | scalars},
    optional={name: json_values for name in FIELDS if name != "type"} | {"extra": json_values},
)


def _no_code_in(message: str) -> None:
    flat = normalise(message)
    for code in CODES:
        assert code not in message and normalise(code) not in flat, message


def _decode_and_seal(line: str | bytes) -> None:
    try:
        for number, event in decode_numbered_lines([line]):
            seal(event, line=number)
    except InputRefused as refusal:
        _no_code_in(str(refusal))


@SETTINGS
@given(
    st.binary(max_size=200) | st.builds(lambda a, c, b: a + c.encode() + b, st.binary(), codes, st.binary())
)
def test_arbitrary_bytes_decode_or_are_refused(data: bytes) -> None:
    _decode_and_seal(data)


@SETTINGS
@given(json_values | event_like, st.booleans())
def test_arbitrary_json_values_decode_or_are_refused_and_never_show_a_code(
    value: Any, as_bytes: bool
) -> None:
    text = json.dumps(value, ensure_ascii=False)
    _decode_and_seal(text.encode("utf-8", "surrogatepass") if as_bytes else text)
    try:
        seal(event_from_object(value))
    except InputRefused as refusal:
        _no_code_in(str(refusal))


# --- snapshots: bytes from a store ----------------------------------------------------------------


def test_a_snapshot_round_trips() -> None:
    s = Scenario()
    s.issue(CODE)
    s.register("laptop")
    s.enter("laptop", CODE)
    restored = load(dump(s.world))
    assert same_state(restored, s.world)
    assert msgspec.msgpack.decode(zlib.decompress(dump(s.world)))[0] == SNAPSHOT_FORMAT == 4


def deflated(value: object) -> bytes:
    return zlib.compress(msgspec.msgpack.encode(value))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(
            b"",
            "not a snapshot of format 4: Error -5 while decompressing data: incomplete or truncated stream",
            id="empty",
        ),
        pytest.param(
            zlib.compress(b"\xc1"),
            "not a snapshot of format 4: MessagePack data is malformed: invalid opcode '\\xc1' (byte 0)",
            id="not msgpack",
        ),
        pytest.param(
            msgspec.msgpack.encode([3, []]),
            "not a snapshot of format 4: Error -3 while decompressing data: incorrect header check",
            id="format 2 (not deflated)",
        ),
        pytest.param(
            deflated([[], [], None, 0]),
            "not a snapshot of format 4: Expected `int`, got `array` - at `$[0]`",
            id="format 1 (no version)",
        ),
        pytest.param(deflated([5, "whatever"]), "a snapshot of format 5, not 4", id="format 5"),
        pytest.param(
            deflated([3, [], [], None, 0]),
            "a snapshot of format 3, not 4",
            id="format 3 (records without evidence)",
        ),
        pytest.param(
            deflated([4, [{"id": 1}], [], None, 0]),
            "a snapshot of format 4 that does not decode: Expected `str`, got `int` - at `$[1][0].id`",
            id="format 4, damaged",
        ),
    ],
)
def test_a_snapshot_that_is_not_one_is_refused_with_a_value_error(data: bytes, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        load(data)
    assert type(caught.value) is ValueError
    assert str(caught.value) == message

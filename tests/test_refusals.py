"""Bad input is refused with a clear message, and nothing is stored.

Two places refuse: the codec (the event does not match its schema) and
``World.check`` (the event contradicts the world: time order, unknown
devices and codes, an expiry that is not due). Messages are asserted whole.
"""

from __future__ import annotations

from datetime import UTC

import pytest

from license_ledger.engine.codec import decode_event, decode_lines, seal
from license_ledger.engine.events import DeviceRegistered
from license_ledger.engine.views import Outcome
from license_ledger.errors import InputRefused
from scenario import Scenario, t

CODE = "AAAAA-BBBBB-CCCCC-00001"
UNKNOWN = "AAAAA-BBBBB-CCCCC-00009"
TYPES = (
    "CodeIssued, CodeBlocked, DeviceRegistered, AppUpdated, ConsoleConnectionChanged, "
    "LicenseExpired, CodeEntered, TryAgainClicked, ActivateNowClicked, LicenseRemoved"
)


@pytest.fixture
def s() -> Scenario:
    scenario = Scenario()
    scenario.issue(CODE, term_days=10)
    scenario.register("laptop")
    return scenario


# --- World.check: the event contradicts the world ------------------------------


def test_an_event_earlier_than_the_one_before_it_is_refused(s: Scenario) -> None:
    s.later(seconds=-1)
    assert s.refused({"type": "DeviceRegistered", "device": "desktop", "app_version": "21.3"}) == (
        "DeviceRegistered, `$.at`: expected a time at or after 2025-01-01T00:00:00Z (the event before it),"
        " found 2024-12-31T23:59:59Z"
    )
    s.later(seconds=1)  # the same time as the event before it is fine
    assert s.register("desktop") == Outcome("recorded")


def test_an_event_for_a_device_never_registered_is_refused(s: Scenario) -> None:
    for event in (
        {"type": "CodeEntered", "device": "ghost", "code": CODE},
        {"type": "AppUpdated", "device": "ghost", "app_version": "22"},
        {"type": "TryAgainClicked", "device": "ghost"},
        {"type": "LicenseExpired", "device": "ghost"},
    ):
        assert s.refused(event) == (
            f"{event['type']}, `$.device`: expected a registered device, found 'ghost', never registered"
        )


def test_registering_a_device_twice_is_refused(s: Scenario) -> None:
    s.later(days=1)
    assert s.refused({"type": "DeviceRegistered", "device": "laptop", "app_version": "22"}) == (
        "DeviceRegistered, `$.device`: expected a device not registered before,"
        " found 'laptop', registered at 2025-01-01T00:00:00Z"
    )


def test_blocking_a_code_never_issued_is_refused(s: Scenario) -> None:
    assert s.refused({"type": "CodeBlocked", "code": UNKNOWN}) == (
        "CodeBlocked, `$.code`: expected a code that was issued, found *****-*****-*****-00009, never issued"
    )


def test_issuing_a_code_twice_is_refused(s: Scenario) -> None:
    s.later(days=1)
    event = {"type": "CodeIssued", "code": CODE.lower(), "kind": "trial", "term_days": 1, "max_devices": 1}
    assert s.refused(event) == (
        "CodeIssued, `$.code`: expected a code that was not issued before,"
        " found *****-*****-*****-00001, issued at 2025-01-01T00:00:00Z"
    )


def test_an_expiry_of_a_license_that_is_not_active_is_refused(s: Scenario) -> None:
    assert s.refused({"type": "LicenseExpired", "device": "laptop"}) == (
        "LicenseExpired, `$.device`: expected a device whose license is active, found 'laptop' in state unlicensed"
    )
    s.enter("laptop", CODE)
    s.later(days=10)
    assert s.expire("laptop") == Outcome("expired")
    assert s.refused({"type": "LicenseExpired", "device": "laptop"}) == (
        "LicenseExpired, `$.device`: expected a device whose license is active, found 'laptop' in state expired"
    )


def test_an_expiry_before_the_license_expires_is_refused(s: Scenario) -> None:
    s.enter("laptop", CODE)
    s.later(days=10, seconds=-1)
    assert s.refused({"type": "LicenseExpired", "device": "laptop"}) == (
        "LicenseExpired, `$.at`: expected a time at or after the license's expiry 2025-01-11T00:00:00Z,"
        " found 2025-01-10T23:59:59Z"
    )


def test_a_wrong_code_entered_is_not_refused_but_rejected(s: Scenario) -> None:
    """The specification: a CodeEntered with a wrong or malformed code is a user's typing: stored, then rejected."""
    assert s.enter("laptop", "oops") == Outcome("rejected", "invalid_format")
    assert s.enter("laptop", UNKNOWN) == Outcome("rejected", "unknown_code")
    assert len(s.log) == 4


# --- the codec: the event does not match its schema -------------------------------


def refusal(line: str) -> str:
    """The message of refusing one line of input (as line 3 of a batch)."""
    with pytest.raises(InputRefused) as caught:
        seal(decode_event(line, line=3), line=3)
    return str(caught.value)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param(
            '{"type": "LicenseRenewed", "device": "laptop"}',
            f"line 3, `$.type`: expected a `type`, one of {TYPES}, found 'LicenseRenewed'",
            id="unknown type",
        ),
        pytest.param(
            '{"device": "laptop"}',
            f"line 3, `$.type`: expected a `type`, one of {TYPES}, found no `type`",
            id="no type",
        ),
        pytest.param(
            '{"type": "DeviceRegistered", "device": "laptop"}',
            "line 3, DeviceRegistered, `$.app_version`: expected the required field `app_version`, found nothing",
            id="missing field",
        ),
        pytest.param(
            '{"type": "DeviceRegistered", "device": "laptop", "app_version": 21}',
            "line 3, DeviceRegistered, `$.app_version`: expected str, found int 21",
            id="mistyped field",
        ),
        pytest.param(
            '{"type": "ConsoleConnectionChanged", "device": "laptop", "connected": "no"}',
            'line 3, ConsoleConnectionChanged, `$.connected`: expected bool, found str "no"',
            id="mistyped bool",
        ),
        pytest.param(
            '{"type": "TryAgainClicked", "device": "laptop", "button": "try"}',
            "line 3, TryAgainClicked, `$.button`: expected only the fields of TryAgainClicked"
            " (type, device, at, id, v), found the unknown field `button`",
            id="unknown field",
        ),
        pytest.param(
            '{"type": "CodeIssued", "code": "AAAAA-BBBBB-CCCCC-00001", "kind": "commercial",'
            ' "term_days": 0, "max_devices": 1}',
            "line 3, CodeIssued, `$.term_days`: expected int >= 1, found 0",
            id="term_days out of range",
        ),
        pytest.param(
            '{"type": "CodeIssued", "code": "AAAAA-BBBBB-CCCCC-00001", "kind": "commercial",'
            ' "term_days": 30, "max_devices": 0}',
            "line 3, CodeIssued, `$.max_devices`: expected int >= 1, found 0",
            id="max_devices out of range",
        ),
        pytest.param(
            '{"type": "CodeIssued", "code": "AAAAA-BBBBB-CCCCC-00001", "kind": "gift",'
            ' "term_days": 30, "max_devices": 1}',
            "line 3, CodeIssued, `$.kind`: expected one of commercial, trial, subscription, found 'gift'",
            id="kind not a choice",
        ),
        pytest.param(
            '{"type": "CodeIssued", "code": "AAAAA-BBBBB-CCCCC-0001", "kind": "commercial",'
            ' "term_days": 30, "max_devices": 1}',
            "line 3, CodeIssued, `$.code`: expected an activation code of 20 letters and digits"
            " (XXXXX-XXXXX-XXXXX-XXXXX), found 19 characters after dropping spaces and hyphens",
            id="malformed code issued",
        ),
        pytest.param(
            '{"type": "CodeBlocked", "code": "AAAAA-BBBBB-CCCCC-0000_"}',
            "line 3, CodeBlocked, `$.code`: expected an activation code of 20 letters and digits"
            " (XXXXX-XXXXX-XXXXX-XXXXX), found characters outside A-Z and 0-9 (1 distinct)",
            id="malformed code blocked",
        ),
        pytest.param(
            '{"type": "CodeEntered", "device": "laptop", "code": 12345}',
            "line 3, CodeEntered, `$.code`: expected an activation code (a string), found int (not shown)",
            id="code not a string",
        ),
        pytest.param(
            '{"type": "AppUpdated", "device": "laptop", "app_version": "twenty-two"}',
            "line 3, AppUpdated, `$.app_version`: expected a PEP 440 version such as 21.3.1, found 'twenty-two'",
            id="app_version not PEP 440",
        ),
        pytest.param(
            '{"type": "CodeIssued", "code": "AAAAA-BBBBB-CCCCC-00001", "kind": "commercial",'
            ' "term_days": 30, "max_devices": 1, "compatible_versions": "21 to 23"}',
            "line 3, CodeIssued, `$.compatible_versions`: expected a PEP 440 version specifier"
            " such as >=21.0,<23 (or empty for any), found '21 to 23'",
            id="compatible_versions not PEP 440",
        ),
        pytest.param(
            '{"type": "DeviceRegistered", "device": "my laptop", "app_version": "21"}',
            "line 3, DeviceRegistered, `$.device`: expected str matching regex"
            " '^[A-Za-z0-9][A-Za-z0-9._:@-]*$', found \"my laptop\"",
            id="device id with a space",
        ),
        pytest.param(
            '{"type": "TryAgainClicked", "device": "laptop", "at": "2025-01-01T00:00:00"}',
            "line 3, TryAgainClicked, `$.at`: expected datetime with a timezone component,"
            ' found "2025-01-01T00:00:00"',
            id="time without a zone",
        ),
        pytest.param(
            '{"type": "TryAgainClicked", "device": "laptop", "at": "yesterday"}',
            "line 3, TryAgainClicked, `$.at`: expected an RFC 3339 timestamp such as 2026-01-31T12:00:00Z,"
            ' found "yesterday"',
            id="time not RFC 3339",
        ),
        pytest.param(
            '{"type": "TryAgainClicked", "device": "laptop", "v": 2}',
            "line 3, `$.v`: expected schema version 1 or older, found version 2 (written by a newer license-ledger)",
            id="newer schema version",
        ),
        pytest.param(
            '{"type": "CodeEntered", "device": "laptop",'
            ' "code": {"sha256": "' + "a" * 64 + '", "tail": "", "well_formed": false, "raw": "x"}}',
            "line 3, CodeEntered, `$.code.raw`: expected only known fields, found the unknown field `raw`",
            id="unknown field in a code reference",
        ),
        pytest.param(
            '{"type": "CodeBlocked", "code": {"sha256": "'
            + "a" * 64
            + '", "tail": "", "well_formed": false}}',
            "line 3, CodeBlocked, `$.code.well_formed`: expected a well-formed code reference,"
            " found well_formed: false",
            id="malformed code reference blocked",
        ),
        pytest.param(
            "[1, 2]",
            "line 3, `$`: expected an event object, found a JSON array"
            " (append takes JSON Lines, one object per line)",
            id="not an object",
        ),
        pytest.param(
            '{"type": "TryAgainClicked", "device": ',
            "line 3: expected one JSON object per line, found malformed JSON (Input data was truncated)",
            id="not JSON",
        ),
    ],
)
def test_input_that_does_not_match_its_schema_is_refused(line: str, message: str) -> None:
    assert refusal(line) == message


def test_a_refusal_never_repeats_a_raw_code() -> None:
    issued = '{"type": "CodeIssued", "code": "SECRT-SECRT-SECRT-SECR", "kind": "trial", "term_days": 1, "max_devices": 1}'
    entered = '{"type": "CodeEntered", "device": "a", "code": "' + "SECRT" * 60 + '"}'
    assert "SECR" not in refusal(issued)
    assert refusal(entered) == (
        "line 3, CodeEntered, `$.code`: expected str of length <= 200, found a code (not shown)"
    )


def test_a_refusal_names_the_line_of_a_batch() -> None:
    lines = ["", '{"type": "DeviceRegistered", "device": "laptop", "app_version": "21"}', "{}"]
    with pytest.raises(InputRefused) as caught:
        list(decode_lines(lines))
    assert caught.value.line == 3
    assert caught.value.as_dict() == {
        "error": "input_refused",
        "message": f"line 3, `$.type`: expected a `type`, one of {TYPES}, found no `type`",
        "line": 3,
        "event_type": None,
        "field": "$.type",
        "expected": f"a `type`, one of {TYPES}",
        "found": "no `type`",
        "stored": False,
    }


def test_times_with_an_offset_are_kept_in_utc() -> None:
    event = seal(
        decode_event(
            '{"type": "DeviceRegistered", "device": "a", "app_version": "21", "at": "2025-01-01T02:00:00+02:00"}'
        )
    )
    assert event == DeviceRegistered(device="a", app_version="21", at=t("2025-01-01T00:00:00Z"))
    assert event.at is not None and event.at.tzinfo is UTC

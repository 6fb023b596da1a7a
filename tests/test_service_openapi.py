"""The OpenAPI document describes what the service does: ids, limits, enums, errors, examples.

Whether every answer conforms to it is checked by ``test_service_schemathesis.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from license_ledger.engine.checks import GUARDS
from license_ledger.engine.events import SCHEMA_VERSION
from license_ledger.engine.rules import STATES
from license_ledger.service.app import create_app
from license_ledger.service.edge import ERROR_CODES
from license_ledger.service.openapi import REASONS, RESULTS

OPERATIONS = {
    ("post", "/events"): "appendEvents",
    ("get", "/devices/{device}/status"): "getDeviceStatus",
    ("get", "/devices/{device}/trace"): "getDeviceTrace",
    ("post", "/devices/{device}/codes"): "enterCode",
    ("post", "/devices/{device}/try-again"): "clickTryAgain",
    ("post", "/devices/{device}/activate-now"): "clickActivateNow",
    ("delete", "/devices/{device}/license"): "removeLicense",
    ("get", "/events"): "getEvents",
    ("get", "/verify"): "verifyLog",
    ("post", "/tick"): "tick",
    ("get", "/health"): "getHealth",
    ("get", "/devices/{device}/diff"): "getDeviceDiff",
    ("get", "/devices/{device}/first"): "getDeviceFirst",
    ("get", "/devices"): "getDevices",
    ("post", "/what-if"): "whatIf",
}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The document as a client reads it."""
    folder = tmp_path_factory.mktemp("openapi")
    with TestClient(create_app(folder / "ledger.db", None, tick_every=0, insecure_no_auth=True)) as client:
        found: dict[str, Any] = client.get("/schema/openapi.json").json()
    return found


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method, path): op for path, item in document["paths"].items() for method, op in item.items()}


def schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = document["components"]["schemas"][name]
    return found


def test_every_operation_has_a_readable_id_a_description_and_an_example(document: dict[str, Any]) -> None:
    ops = operations(document)
    assert {key: op["operationId"] for key, op in ops.items()} == OPERATIONS
    for key, op in ops.items():
        assert op["summary"] and len(op["description"]) > 40, key
        assert "example" in op["responses"]["200"]["content"]["application/json"], key
        if "requestBody" in op:
            assert "example" in op["requestBody"]["content"]["application/json"], key


def test_health_needs_no_token_and_everything_else_does(document: dict[str, Any]) -> None:
    assert document["security"] == [{"bearer": []}]
    for key, op in operations(document).items():
        assert op.get("security") == ([] if key == ("get", "/health") else None), key


def test_every_input_has_its_limits(document: dict[str, Any]) -> None:
    ops = operations(document)
    params = {(key, p["name"]): p["schema"] for key, op in ops.items() for p in op.get("parameters", [])}
    largest = 2**63 - 1
    assert params[("get", "/events"), "after"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": largest,
        "default": 0,
    }
    assert params[("get", "/events"), "limit"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": largest,
        "default": 100,
    }
    assert params[("get", "/devices/{device}/status"), "as_of"] == {"type": "string", "format": "date-time"}
    devices = [s for (key, name), s in params.items() if name == "device"]
    assert len(devices) == 8
    for device in devices:
        assert device["minLength"] == 1 and device["maxLength"] == 128
        assert device["pattern"] == "^[A-Za-z0-9][A-Za-z0-9._:@-]*$"
    tick = schema(document, "TickBody")["properties"]["now"]
    assert {"type": "string", "format": "date-time"}.items() <= tick["anyOf"][0].items()
    code = schema(document, "CodeBody")["properties"]["code"]["anyOf"][0]
    assert code["type"] == "string" and code["maxLength"] == 200
    for name in ("CodeIssued", "CodeEntered", "DeviceRegistered", "LicenseRemoved"):
        event = schema(document, name)["properties"]
        assert event["v"] == {"type": "integer", "minimum": 1, "maximum": SCHEMA_VERSION, "default": 1}
        assert {"type": "string", "format": "date-time"} in event["at"]["anyOf"]
    assert schema(document, "DeviceRegistered")["properties"]["device"]["maxLength"] == 128


def test_the_answers_enums_come_from_the_library(document: dict[str, Any]) -> None:
    # Written out by hand from docs/rules.md, to check what the document derives.
    assert set(RESULTS) == {
        "recorded",
        "activated",
        "backup_added",
        "rejected",
        "renewed",
        "renewal_failed",
        "expired",
        "removed",
        "ignored",
        "blocked",
    }
    assert set(REASONS) == {
        "invalid_format",
        "unknown_code",
        "already_active",
        "backup_already_added",
        "subscription_in_use",
        "trial_not_allowed",
        "code_blocked",
        "does_not_extend",
        "code_expired",
        "incompatible_version",
        "device_limit_reached",
        "console_unreachable",
        "no_license",
        "action_not_available",
    }
    assert set(REASONS) <= {*GUARDS_REASONS, "no_license", "action_not_available"}
    appended = schema(document, "Appended")["properties"]
    assert appended["result"] == {"enum": RESULTS}
    assert appended["reason"] == {"anyOf": [{"enum": REASONS}, {"type": "null"}]}
    assert len(appended["type"]["enum"]) == 10
    trace = schema(document, "TraceEntry")["properties"]
    assert trace["state"] == {"enum": STATES} and trace["result"] == {"enum": RESULTS}
    status = schema(document, "DeviceStatus")["properties"]
    assert status["state"] == {"enum": STATES}
    assert set(status["actions"]["items"]["enum"]) == {"try_again", "activate_now", "remove_license"}
    assert schema(document, "LicenseView")["properties"]["kind"] == {
        "enum": ["commercial", "trial", "subscription"]
    }
    assert schema(document, "BackupView")["properties"]["state"] == {"enum": ["pending", "activation_failed"]}
    assert schema(document, "FeedEvent")["properties"]["result"] == {"enum": RESULTS}


#: Every reason a guard of engine/checks.py can fail with (two never reach a result).
GUARDS_REASONS = {
    "invalid_format",
    "unknown_code",
    "already_active",
    "backup_already_added",
    "subscription_in_use",
    "trial_not_allowed",
    "code_blocked",
    "does_not_extend",
    "code_expired",
    "incompatible_version",
    "device_limit_reached",
    "console_unreachable",
    "no_backup",
    "backup_not_failed",
}


def test_the_guards_are_the_ones_the_reasons_were_read_from() -> None:
    assert len(GUARDS) == len(GUARDS_REASONS)


def test_errors_are_described_with_all_their_fields_and_codes(document: dict[str, Any]) -> None:
    error = schema(document, "Error")
    assert error["required"] == ["error", "message", "stored"]
    assert error["properties"]["error"]["enum"] == list(ERROR_CODES)
    assert set(error["properties"]) == {
        "error",
        "message",
        "stored",
        "line",
        "event_type",
        "field",
        "expected",
        "found",
        "missing_right",
        "role",
        "device",
        "seq",
    }
    ops = operations(document)
    for key, op in ops.items():
        responses = op["responses"]
        assert "500" in responses and "400" not in responses, key
        assert responses["500"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
        if key != ("get", "/health"):
            assert {"401", "403"} <= set(responses), key
        if "requestBody" in op:
            assert {"413", "422"} <= set(responses), key
    assert set(ops["get", "/verify"]["responses"]) == {"200", "401", "403", "429", "500"}


def test_the_examples_match_their_schemas(document: dict[str, Any]) -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    for key, op in operations(document).items():
        media = [op["responses"]["200"]["content"]["application/json"]]
        if "requestBody" in op:
            media.append(op["requestBody"]["content"]["application/json"])
        for content in media:
            rooted = {**content["schema"], "components": document["components"]}
            errors = [
                e.message for e in jsonschema_rs.Draft202012Validator(rooted).iter_errors(content["example"])
            ]
            assert errors == [], (key, errors)

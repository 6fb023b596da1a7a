"""An example request and answer for each operation of the API document.

The same story as ``docs/service.md``: a vendor issues codes, a laptop
renews with a backup code, a tick expires its first license.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EXAMPLES"]


_APPENDED = {
    "seq": 5,
    "type": "CodeEntered",
    "at": "2026-11-02T12:00:00.123456Z",
    "result": "backup_added",
    "reason": None,
    "detail": None,
    "stored": True,
}


def _click(kind: str, seq: int, result: str, reason: str | None) -> dict[str, Any]:
    return {**_APPENDED, "seq": seq, "type": kind, "result": result, "reason": reason}


EXAMPLES: dict[tuple[str, str], tuple[Any, Any]] = {
    ("get", "/health"): (None, {"status": "ok"}),
    ("post", "/events"): (
        {
            "type": "CodeIssued",
            "code": "AAAAA-BBBBB-CCCCC-DDDDD",
            "kind": "commercial",
            "term_days": 365,
            "max_devices": 1,
        },
        [
            {
                **_APPENDED,
                "seq": 1,
                "type": "CodeIssued",
                "at": "2026-01-05T10:00:00.012345Z",
                "result": "recorded",
            }
        ],
    ),
    ("post", "/devices/{device}/codes"): (
        {"code": "eeeee-fffff-ggggg-hhhhh", "id": "laptop-1-renewal"},
        _APPENDED,
    ),
    ("post", "/devices/{device}/try-again"): (
        {"id": "laptop-1-try-1"},
        _click("TryAgainClicked", 6, "ignored", "action_not_available"),
    ),
    ("post", "/devices/{device}/activate-now"): (
        {"id": "laptop-1-activate-1"},
        _click("ActivateNowClicked", 7, "ignored", "action_not_available"),
    ),
    ("delete", "/devices/{device}/license"): (
        {"id": "laptop-1-remove-1"},
        _click("LicenseRemoved", 8, "renewed", None),
    ),
    ("get", "/devices/{device}/status"): (
        None,
        {
            "device": "laptop-1",
            "as_of": "2026-11-02T12:05:00.318412Z",
            "state": "active",
            "license": {
                "code": "*****-*****-*****-DDDDD",
                "kind": "commercial",
                "activated_at": "2026-01-06T09:01:00Z",
                "expires_at": "2027-01-06T09:01:00Z",
                "provisional": False,
            },
            "backup": {
                "code": "*****-*****-*****-HHHHH",
                "state": "pending",
                "added_at": "2026-11-02T12:00:00.123456Z",
                "failure": None,
            },
            "actions": ["remove_license"],
        },
    ),
    ("get", "/devices/{device}/trace"): (
        None,
        [
            {
                "seq": 3,
                "type": "DeviceRegistered",
                "at": "2026-01-06T09:00:00Z",
                "result": "recorded",
                "reason": None,
                "detail": None,
                "state": "unlicensed",
            },
            {
                "seq": 4,
                "type": "CodeEntered",
                "at": "2026-01-06T09:01:00Z",
                "result": "activated",
                "reason": None,
                "detail": None,
                "state": "active",
            },
        ],
    ),
    ("get", "/events"): (
        None,
        [
            {
                "seq": 3,
                "type": "DeviceRegistered",
                "at": "2026-01-06T09:00:00Z",
                "device": "laptop-1",
                "result": "recorded",
                "reason": None,
                "detail": None,
                "hash": "aaa5eecf688b9040d02d410e339f9a9602c5b3bf01485fc0f04105d9ccdde318",
                "payload": {
                    "type": "DeviceRegistered",
                    "device": "laptop-1",
                    "app_version": "22.1",
                    "at": "2026-01-06T09:00:00Z",
                    "id": None,
                    "v": 1,
                },
            }
        ],
    ),
    ("get", "/verify"): (
        None,
        {
            "ok": True,
            "events": 7,
            "head_seq": 7,
            "head_hash": "f03350251716253e8e19aee7c687ca8f8f74e02bd4d585571863b4a7738fc278",
            "first_bad_seq": None,
            "problem": None,
        },
    ),
    ("post", "/tick"): (
        {"now": "2027-01-06T09:01:00Z"},
        [
            {
                "seq": 8,
                "type": "LicenseExpired",
                "at": "2027-01-06T09:01:00Z",
                "result": "renewed",
                "reason": None,
                "detail": None,
                "stored": True,
            }
        ],
    ),
}


_STATUS_AFTER = {
    "device": "laptop-1",
    "as_of": "2027-01-07T00:00:00Z",
    "state": "active",
    "license": {
        "code": "*****-*****-*****-HHHHH",
        "kind": "commercial",
        "activated_at": "2027-01-06T09:01:00Z",
        "expires_at": "2028-01-06T09:01:00Z",
        "provisional": False,
    },
    "backup": None,
    "actions": ["remove_license"],
}
_RENEWED = {
    "seq": 8,
    "type": "LicenseExpired",
    "at": "2027-01-06T09:01:00Z",
    "result": "renewed",
    "reason": None,
    "detail": None,
    "state": "active",
    "evidence": [5],
}

EXAMPLES[("get", "/devices/{device}/diff")] = (
    None,
    {
        "device": "laptop-1",
        "from": "2027-01-01T00:00:00Z",
        "to": "2027-01-07T00:00:00Z",
        "before": {
            **_STATUS_AFTER,
            "as_of": "2027-01-01T00:00:00Z",
            "license": {
                "code": "*****-*****-*****-DDDDD",
                "kind": "commercial",
                "activated_at": "2026-01-06T09:01:00Z",
                "expires_at": "2027-01-06T09:01:00Z",
                "provisional": False,
            },
            "backup": {
                "code": "*****-*****-*****-HHHHH",
                "state": "pending",
                "added_at": "2026-11-02T12:00:00.123456Z",
                "failure": None,
            },
        },
        "after": _STATUS_AFTER,
        "changes": [
            {
                "field": "license.code",
                "before": "*****-*****-*****-DDDDD",
                "after": "*****-*****-*****-HHHHH",
                "seq": 8,
            },
            {"field": "backup.state", "before": "pending", "after": None, "seq": 8},
        ],
        "events": [_RENEWED],
    },
)
EXAMPLES[("get", "/devices/{device}/first")] = (
    None,
    {
        "device": "laptop-1",
        "seq": 8,
        "at": "2027-01-06T09:01:00Z",
        "status": {**_STATUS_AFTER, "as_of": "2027-01-06T09:01:00Z"},
    },
)
EXAMPLES[("get", "/devices")] = (
    None,
    [{"device": "laptop-1", "state": "active"}, {"device": "laptop-2", "state": "expired"}],
)
EXAMPLES[("post", "/what-if")] = (
    {"drop": [5], "insert": [], "as_of": "2027-01-07T00:00:00Z"},
    {
        "first_divergence": 8,
        "changed_events": [
            {
                "seq": 5,
                "type": "CodeEntered",
                "device": "laptop-1",
                "was": {"result": "backup_added", "reason": None},
                "now": "dropped",
            },
            {
                "seq": 8,
                "type": "LicenseExpired",
                "device": "laptop-1",
                "was": {"result": "renewed", "reason": None},
                "now": {"result": "expired", "reason": None},
            },
        ],
        "devices": [
            {
                "device": "laptop-1",
                "was": _STATUS_AFTER,
                "now": {
                    **_STATUS_AFTER,
                    "state": "expired",
                    "license": {
                        "code": "*****-*****-*****-DDDDD",
                        "kind": "commercial",
                        "activated_at": "2026-01-06T09:01:00Z",
                        "expires_at": "2027-01-06T09:01:00Z",
                        "provisional": False,
                    },
                },
            }
        ],
        "as_of": "2027-01-07T00:00:00Z",
        "inserted": [],
    },
)

# --- putting it into the document ------------------------------------------------------

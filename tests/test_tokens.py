"""The token file: only hashes on disk, one role per token, lookups that follow the file."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from license_ledger.tokens import (
    RIGHTS,
    ROLES,
    Forbidden,
    Principal,
    TokenError,
    TokenFile,
    append_right,
    new_token,
    require,
)


def test_a_new_token_is_returned_once_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    token = new_token(path, "vendor")
    assert token.startswith("llt_") and len(token) > 40
    text = path.read_text()
    assert token not in text
    [entry] = json.loads(text)["tokens"]
    assert entry["sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert entry["role"] == "vendor" and "device" not in entry
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_lookup_finds_the_role_and_the_bound_device(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    admin = new_token(path, "admin")
    device = new_token(path, "device", device="laptop-1")
    tokens = TokenFile(path)
    assert tokens.lookup(admin) == Principal("admin")
    assert tokens.lookup(device) == Principal("device", "laptop-1")
    assert tokens.lookup("llt_not-a-token") is None
    assert tokens.lookup("") is None
    assert len(tokens) == 2


def test_a_token_added_while_serving_is_known_at_once(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    new_token(path, "admin")
    tokens = TokenFile(path)
    later = new_token(path, "auditor")
    assert tokens.lookup(later) == Principal("auditor")


def test_a_token_deleted_from_the_file_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    kept = new_token(path, "admin")
    dropped = new_token(path, "auditor")
    tokens = TokenFile(path)
    content = json.loads(path.read_text())
    content["tokens"] = [e for e in content["tokens"] if e["role"] != "auditor"]
    path.write_text(json.dumps(content))
    assert tokens.lookup(dropped) is None
    assert tokens.lookup(kept) == Principal("admin")


def test_a_file_that_turns_unreadable_lets_nobody_in(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    token = new_token(path, "admin")
    tokens = TokenFile(path)
    path.write_text("{not json")
    with pytest.raises(TokenError, match="not a license-ledger token file"):
        tokens.lookup(token)
    with pytest.raises(TokenError, match="not a license-ledger token file"):
        tokens.lookup(token)


@pytest.mark.parametrize(
    ("role", "device", "message"),
    [
        ("root", None, "expected a role, one of vendor, system, device, auditor, admin, found 'root'"),
        ("device", None, "expected a device for a token of role device"),
        ("device", "no spaces please", "expected a device identifier"),
        ("vendor", "laptop-1", "expected no device for a token of role vendor"),
    ],
)
def test_new_token_refuses_a_wrong_role_or_device(
    tmp_path: Path, role: str, device: str | None, message: str
) -> None:
    path = tmp_path / "tokens.json"
    with pytest.raises(TokenError, match=message):
        new_token(path, role, device)
    assert not path.exists()


def test_a_missing_or_foreign_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TokenError, match="no such token file .*token new"):
        TokenFile(tmp_path / "absent.json")
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"format": "other", "version": 1, "tokens": []}))
    with pytest.raises(TokenError, match="expected a license-ledger-tokens file of version 1"):
        TokenFile(foreign)


def test_the_roles_hold_the_rights_of_the_service_contract() -> None:
    vendor = {append_right(t) for t in ("CodeIssued", "CodeBlocked")}
    system = {
        append_right(t)
        for t in ("DeviceRegistered", "AppUpdated", "ConsoleConnectionChanged", "LicenseExpired")
    }
    user = {
        append_right(t) for t in ("CodeEntered", "TryAgainClicked", "ActivateNowClicked", "LicenseRemoved")
    }
    reads = {"read status", "read trace", "read events", "verify"}
    assert set(ROLES) == set(RIGHTS)
    assert RIGHTS["vendor"] == vendor
    assert RIGHTS["system"] == system | {"tick"}
    assert RIGHTS["device"] == user | {"read status", "read trace"}
    assert RIGHTS["auditor"] == reads
    assert RIGHTS["admin"] == vendor | system | user | reads | {"tick"}


def test_a_device_token_acts_for_its_own_device_only() -> None:
    laptop = Principal("device", "laptop-1")
    require(laptop, append_right("CodeEntered"), "laptop-1")
    with pytest.raises(Forbidden) as refused:
        require(laptop, append_right("CodeEntered"), "laptop-2")
    assert str(refused.value) == (
        "this token (role device, bound to device 'laptop-1') lacks the right `append CodeEntered` "
        "for device 'laptop-2' (held by: device, admin); nothing was stored"
    )
    with pytest.raises(Forbidden, match=r"lacks the right `append CodeIssued` \(held by: vendor, admin\)"):
        require(laptop, append_right("CodeIssued"), "laptop-1")


def test_forbidden_says_which_right_is_missing() -> None:
    with pytest.raises(Forbidden) as refused:
        require(Principal("auditor"), "tick")
    assert refused.value.as_dict() == {
        "error": "forbidden",
        "message": "this token (role auditor) lacks the right `tick` (held by: system, admin); nothing was stored",
        "missing_right": "tick",
        "device": None,
        "role": "auditor",
        "stored": False,
    }

"""The token file: only hashes on disk, one role per token, lookups that follow the file."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from license_ledger.service.tokens import (
    RIGHTS,
    ROLES,
    Forbidden,
    Principal,
    TokenError,
    TokenFile,
    append_right,
    list_tokens,
    new_token,
    require,
    revoke_token,
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
    reads = {"read status", "read trace", "read events", "verify", "read history", "investigate"}
    assert set(ROLES) == set(RIGHTS)
    assert RIGHTS["vendor"] == vendor
    assert RIGHTS["system"] == system | {"tick"}
    assert RIGHTS["device"] == user | {"read status", "read trace", "read history"}
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


def test_list_shows_ids_roles_and_devices_never_tokens(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    admin = new_token(path, "admin")
    device = new_token(path, "device", device="laptop")
    listed = list_tokens(path)
    assert [(t.id, t.role, t.device) for t in listed] == [
        (hashlib.sha256(admin.encode()).hexdigest()[:12], "admin", None),
        (hashlib.sha256(device.encode()).hexdigest()[:12], "device", "laptop"),
    ]
    assert all(t.created_at.endswith("Z") for t in listed)


def test_revoke_removes_one_token_and_the_service_refuses_it_at_once(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    keep, gone = new_token(path, "auditor"), new_token(path, "vendor")
    served = TokenFile(path)
    assert served.lookup(gone) == Principal("vendor", None)
    gone_id = list_tokens(path)[1].id
    revoked = revoke_token(path, gone_id[:8].upper())
    assert (revoked.id, revoked.role) == (gone_id, "vendor")
    assert served.lookup(gone) is None
    assert served.lookup(keep) == Principal("auditor", None)
    assert [t.role for t in list_tokens(path)] == ["auditor"]


@pytest.mark.parametrize(
    ("token_id", "message"),
    [
        ("abc", "expected a token id of 8 to 64 hex digits (see `token list`), found 'abc'"),
        ("not-hex!", "expected a token id of 8 to 64 hex digits (see `token list`), found 'not-hex!'"),
        ("00000000", "expected one token whose id starts with '00000000', found no token in "),
    ],
)
def test_revoke_refuses_a_bad_or_unknown_id_and_changes_nothing(
    tmp_path: Path, token_id: str, message: str
) -> None:
    path = tmp_path / "tokens.json"
    new_token(path, "admin")
    before = path.read_bytes()
    if list_tokens(path)[0].id.startswith("00000000"):
        pytest.skip("the random token happens to start with the probe id")
    with pytest.raises(TokenError) as refused:
        revoke_token(path, token_id)
    assert str(refused.value).startswith(message)
    assert path.read_bytes() == before

"""The forensic routes over real HTTP, on the demo story: who may ask, what a device sees, refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
import pytest

from license_ledger import Ledger
from license_ledger.cli.demo import run
from license_ledger.service.tokens import new_token
from live_service import Service, start_service

DIFF = {"from": "2025-05-01T00:00:00Z", "to": "2025-06-02T12:00:00Z"}


@dataclass
class Env:
    service: Service
    tokens: dict[str, str]
    db: Path

    def client(self, who: str) -> httpx.Client:
        return self.service.client(self.tokens[who])


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    folder = tmp_path_factory.mktemp("forensics")
    db = folder / "demo.db"
    with Ledger.open(db) as ledger:
        run(ledger)
    tokens_path = folder / "tokens.json"
    tokens = {role: new_token(tokens_path, role) for role in ("vendor", "system", "auditor", "admin")}
    tokens["tablet"] = new_token(tokens_path, "device", device="kids-tablet")
    service = start_service(db, tokens_path, tick_every=0, max_batch=20)
    try:
        yield Env(service, tokens, db)
    finally:
        assert service.stop(), service.log_text()


def library(env: Env, method: str, *args: object, **kwargs: object) -> object:
    with Ledger.open(env.db, read_only=True) as ledger:
        return json.loads(msgspec.json.encode(getattr(ledger, method)(*args, **kwargs)))


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_auditors_and_admins_ask_everything(env: Env, role: str) -> None:
    with env.client(role) as client:
        diff = client.get("/devices/kids-tablet/diff", params=DIFF)
        assert diff.status_code == 200 and diff.json() == library(
            env, "diff", "kids-tablet", DIFF["from"], DIFF["to"]
        )
        assert diff.json()["events"][0]["evidence"] == [16, 20]
        first = client.get("/devices/reception-pc/first", params={"state": "blocked"})
        assert first.status_code == 200 and first.json()["seq"] == 24
        page = client.get("/devices", params={"as_of": "2025-06-02T12:00:00Z", "limit": 2})
        assert page.json() == [
            {"device": "home-laptop", "state": "active"},
            {"device": "kids-tablet", "state": "expired"},
        ]
        rest = client.get("/devices", params={"as_of": "2025-06-02T12:00:00Z", "after": "kids-tablet"})
        assert [d["device"] for d in rest.json()] == [
            "office-desktop",
            "reception-pc",
            "studio-pc",
            "workstation",
        ]
        expired = client.get("/devices", params={"state": "expired", "as_of": "2025-06-02T12:00:00Z"})
        assert expired.json() == [{"device": "kids-tablet", "state": "expired"}]
        what_if = client.post("/what-if", json={"drop": [16], "as_of": "2025-06-03T00:00:00Z"})
        assert what_if.status_code == 200, what_if.text
        assert what_if.json() == library(env, "what_if", drop=[16], as_of="2025-06-03T00:00:00Z")
        inserted = client.post(
            "/what-if",
            json={"insert": [{"after": 28, "events": [{"type": "LicenseRemoved", "device": "studio-pc"}]}]},
        )
        assert inserted.status_code == 200 and inserted.json()["first_divergence"] == 29


def test_a_device_asks_about_itself_only_and_reads_no_other_devices_evidence(env: Env) -> None:
    with env.client("tablet") as tablet:
        diff = tablet.get("/devices/kids-tablet/diff", params=DIFF)
        assert diff.status_code == 200
        event = diff.json()["events"][0]
        # #16 is the studio PC's activation: another device's event; #20 the tablet's own backup.
        assert event["evidence"] == [20]
        assert event["detail"] == {"max_devices": 1, "seats_held": 1}
        trace = tablet.get("/devices/kids-tablet/trace").json()
        assert all(seq in {e["seq"] for e in trace} for e in trace for seq in e["evidence"])
        assert [e["evidence"] for e in trace if e["seq"] == 29] == [[20]]
        first = tablet.get("/devices/kids-tablet/first", params={"result": "renewed"})
        assert first.status_code == 200 and first.json()["seq"] == 32
        for path, params in (
            ("/devices/studio-pc/diff", DIFF),
            ("/devices/studio-pc/first", {"state": "active"}),
            ("/devices", {}),
        ):
            refused = tablet.get(path, params=params)
            assert refused.status_code == 403 and refused.json()["error"] == "forbidden", path
        assert tablet.post("/what-if", json={"drop": [16]}).status_code == 403


def test_other_roles_may_not_investigate(env: Env) -> None:
    for role in ("vendor", "system"):
        with env.client(role) as client:
            assert client.get("/devices/kids-tablet/diff", params=DIFF).status_code == 403
            assert client.get("/devices").status_code == 403
            assert client.post("/what-if", json={}).status_code == 403


def test_refusals_name_what_was_expected(env: Env) -> None:
    with env.client("auditor") as client:
        missing = client.get("/devices/kids-tablet/diff")
        assert missing.status_code == 422 and missing.json()["field"] == "from"
        backwards = client.get("/devices/kids-tablet/diff", params={"from": DIFF["to"], "to": DIFF["from"]})
        assert backwards.status_code == 422 and backwards.json()["field"] == "to"
        assert client.get("/devices/nobody/first", params={"state": "active"}).status_code == 404
        asleep = client.get("/devices/kids-tablet/first", params={"state": "asleep"})
        assert asleep.status_code == 422 and asleep.json()["field"] == "state"
        assert client.get("/devices", params={"state": "asleep"}).status_code == 422
        invalid = client.post("/what-if", json={"drop": [7]})
        assert invalid.status_code == 422
        assert invalid.json()["seq"] == 13
        assert invalid.json()["message"].startswith(
            "seq 13, CodeEntered, `$.device`: expected a registered device"
        )
        for body, field in (
            ({"drop": ["7"]}, "$.drop[0]"),
            ({"drop": [0]}, "drop"),
            ({"drop": list(range(1, 30))}, "$.drop"),
            ({"insert": [{"events": []}]}, "$.insert[0]"),
            ({"insert": [{"after": 1, "events": [{"type": "Nope"}]}]}, "$.type"),
            ({"as_of": 5}, "$.as_of"),
            ({"nope": 1}, "$.nope"),
        ):
            answer = client.post("/what-if", json=body)
            assert answer.status_code == 422, (body, answer.text)
            assert answer.json()["field"] == field, (body, answer.json())
        assert client.post("/what-if", content=b"[").status_code == 422

"""The license service over real HTTP: routes, roles, refusals, load, two processes, the ticker.

Every test talks to a uvicorn subprocess (see ``tests/live_service.py``) with
httpx; the rules themselves are tested in ``test_rules.py``, so these tests
check what the service adds: parsing, formatting, rights, limits, logging and
concurrency.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from license_ledger import Ledger
from license_ledger.service.app import create_app
from license_ledger.service.tokens import TokenError, new_token, revoke_token
from live_service import Service, start_service

PAST = "2020-01-01T00:00:00Z"
_codes = itertools.count(1)


def fresh_code() -> str:
    """A well-formed activation code never used before in this test run."""
    return f"HTTPT{next(_codes):015d}"


def dashed(code: str) -> str:
    return "-".join(code[i : i + 5] for i in range(0, 20, 5))


def issued(code: str, *, term_days: int = 30, max_devices: int = 100, **more: Any) -> dict[str, Any]:
    return {
        "type": "CodeIssued",
        "code": code,
        "kind": "commercial",
        "term_days": term_days,
        "max_devices": max_devices,
        **more,
    }


def registered(device: str, **more: Any) -> dict[str, Any]:
    return {"type": "DeviceRegistered", "device": device, "app_version": "1.0", **more}


@dataclass
class Env:
    """The shared service of this module, its tokens, and what was seeded into it."""

    service: Service
    tokens: dict[str, str]
    tokens_path: Path
    raw_codes: list[str] = field(default_factory=list)
    due: list[str] = field(default_factory=list)
    known_head: int = 0

    def client(self, role: str | None) -> httpx.Client:
        return self.service.client(None if role is None else self.tokens[role])

    def append(self, *events: dict[str, Any]) -> list[dict[str, Any]]:
        with self.client("admin") as admin:
            response = admin.post("/events", json=list(events))
        assert response.status_code == 200, response.text
        for event in events:
            if isinstance(event.get("code"), str):
                self.raw_codes.append(event["code"])
        return list(response.json())

    def head(self) -> int:
        """The last seq stored (read from the feed, from where the last call left off)."""
        with self.client("admin") as admin:
            while page := admin.get("/events", params={"after": self.known_head, "limit": 1000}).json():
                self.known_head = page[-1]["seq"]
        return self.known_head


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    folder = tmp_path_factory.mktemp("service")
    tokens_path = folder / "tokens.json"
    tokens = {role: new_token(tokens_path, role) for role in ("vendor", "system", "auditor", "admin")}
    tokens["device"] = new_token(tokens_path, "device", device="d1")
    service = start_service(folder / "ledger.db", tokens_path, tick_every=0, max_batch=50, max_body=64 * 1024)
    env = Env(service, tokens, tokens_path)
    # The past first (time never goes backwards in the log): licenses already
    # due to expire, which no ticker expires in this module (tick_every=0).
    past = fresh_code()
    env.due = ["e1", "e2", "e3"]
    env.append(
        issued(past, term_days=1, at=PAST),
        *(registered(device, at=PAST) for device in ["d1", "d2", *env.due]),
        *({"type": "CodeEntered", "device": d, "code": past, "at": "2020-01-01T00:01:00Z"} for d in env.due),
    )
    try:
        yield env
        with env.client("auditor") as auditor:
            report = auditor.get("/verify").json()
        assert report["ok"] and report["head_seq"] == env.head(), report
    finally:
        assert service.stop(), service.log_text()


# --- what anyone may ask -------------------------------------------------------------


def test_health_needs_no_token(env: Env) -> None:
    with env.client(None) as anyone:
        assert anyone.get("/health").json() == {"status": "ok"}


def test_the_openapi_document_lists_every_route_and_the_event_schemas(env: Env) -> None:
    with env.client(None) as anyone:
        document = anyone.get("/schema/openapi.json").json()
    assert set(document["paths"]) == {
        "/health",
        "/events",
        "/devices/{device}/codes",
        "/devices/{device}/try-again",
        "/devices/{device}/activate-now",
        "/devices/{device}/license",
        "/devices/{device}/status",
        "/devices/{device}/trace",
        "/verify",
        "/tick",
        "/devices/{device}/diff",
        "/devices/{device}/first",
        "/devices",
        "/what-if",
    }
    body = document["paths"]["/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/CodeIssued"} in body["anyOf"][1]["anyOf"]
    assert document["components"]["schemas"]["CodeIssued"]["required"] == [
        "type",
        "code",
        "kind",
        "term_days",
        "max_devices",
    ]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    status = document["paths"]["/devices/{device}/status"]["get"]
    assert {p["name"] for p in status["parameters"]} == {"device", "as_of"}
    assert set(status["responses"]) == {"200", "401", "403", "404", "422", "500"}


# --- tokens and roles -------------------------------------------------------------------


PROTECTED = [
    ("POST", "/events"),
    ("POST", "/devices/d1/codes"),
    ("POST", "/devices/d1/try-again"),
    ("POST", "/devices/d1/activate-now"),
    ("DELETE", "/devices/d1/license"),
    ("GET", "/devices/d1/status"),
    ("GET", "/devices/d1/trace"),
    ("GET", "/events"),
    ("GET", "/verify"),
    ("POST", "/tick"),
]


@pytest.mark.parametrize("authorization", [None, "Bearer llt_unknown", "Basic YWRtaW46YWRtaW4=", "Bearer"])
def test_no_or_an_unknown_token_is_401_and_stores_nothing(env: Env, authorization: str | None) -> None:
    head = env.head()
    headers = {} if authorization is None else {"Authorization": authorization}
    with env.client(None) as anyone:
        for method, path in PROTECTED:
            body = registered(f"intruder-{next(_codes)}") if path == "/events" else {"code": fresh_code()}
            response = anyone.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["error"] == "unauthenticated"
    assert env.head() == head


Action = Callable[[Env], tuple[str, str, Any]]


def _event(make: Callable[[Env], dict[str, Any]]) -> Action:
    return lambda env: ("POST", "/events", make(env))


def _issued_code(env: Env) -> str:
    code = fresh_code()
    env.append(issued(code))
    return code


#: (what, the right it needs, the roles that hold it for that device, the request).
#: Written out by hand from the service contract, not derived from the code.
MATRIX: list[tuple[str, str, set[str], Action]] = [
    ("issue a code", "append CodeIssued", {"vendor", "admin"}, _event(lambda env: issued(fresh_code()))),
    (
        "block a code",
        "append CodeBlocked",
        {"vendor", "admin"},
        _event(lambda env: {"type": "CodeBlocked", "code": _issued_code(env), "reason": "refund"}),
    ),
    (
        "register a device",
        "append DeviceRegistered",
        {"system", "admin"},
        _event(lambda env: registered(f"r{next(_codes)}")),
    ),
    (
        "update the app",
        "append AppUpdated",
        {"system", "admin"},
        _event(lambda env: {"type": "AppUpdated", "device": "d2", "app_version": "1.1"}),
    ),
    (
        "lose the console",
        "append ConsoleConnectionChanged",
        {"system", "admin"},
        _event(lambda env: {"type": "ConsoleConnectionChanged", "device": "d2", "connected": True}),
    ),
    (
        "expire a license",
        "append LicenseExpired",
        {"system", "admin"},
        _event(lambda env: {"type": "LicenseExpired", "device": env.due[0]}),
    ),
    ("tick", "tick", {"system", "admin"}, lambda env: ("POST", "/tick", None)),
    (
        "enter a code on its device",
        "append CodeEntered",
        {"device", "admin"},
        lambda env: ("POST", "/devices/d1/codes", {"code": fresh_code()}),
    ),
    (
        "enter a code on another device",
        "append CodeEntered",
        {"admin"},
        lambda env: ("POST", "/devices/d2/codes", {"code": fresh_code()}),
    ),
    (
        "post CodeEntered for its device",
        "append CodeEntered",
        {"device", "admin"},
        _event(lambda env: {"type": "CodeEntered", "device": "d1", "code": fresh_code()}),
    ),
    (
        "post CodeEntered for another device",
        "append CodeEntered",
        {"admin"},
        _event(lambda env: {"type": "CodeEntered", "device": "d2", "code": fresh_code()}),
    ),
    (
        "try again on its device",
        "append TryAgainClicked",
        {"device", "admin"},
        lambda env: ("POST", "/devices/d1/try-again", None),
    ),
    (
        "activate now on its device",
        "append ActivateNowClicked",
        {"device", "admin"},
        lambda env: ("POST", "/devices/d1/activate-now", {}),
    ),
    (
        "remove the license of its device",
        "append LicenseRemoved",
        {"device", "admin"},
        lambda env: ("DELETE", "/devices/d1/license", None),
    ),
    (
        "remove the license of another device",
        "append LicenseRemoved",
        {"admin"},
        lambda env: ("DELETE", "/devices/d2/license", None),
    ),
    (
        "read its status",
        "read status",
        {"device", "auditor", "admin"},
        lambda env: ("GET", "/devices/d1/status", None),
    ),
    (
        "read another status",
        "read status",
        {"auditor", "admin"},
        lambda env: ("GET", "/devices/d2/status", None),
    ),
    (
        "read its trace",
        "read trace",
        {"device", "auditor", "admin"},
        lambda env: ("GET", "/devices/d1/trace", None),
    ),
    (
        "read another trace",
        "read trace",
        {"auditor", "admin"},
        lambda env: ("GET", "/devices/d2/trace", None),
    ),
    ("read the feed", "read events", {"auditor", "admin"}, lambda env: ("GET", "/events", None)),
    ("verify", "verify", {"auditor", "admin"}, lambda env: ("GET", "/verify", None)),
]


def test_every_role_may_do_what_it_holds_and_is_403_otherwise(env: Env) -> None:
    mismatches: list[tuple[str, str, object, object]] = []
    for what, right, allowed, action in MATRIX:
        for role in ("vendor", "system", "device", "auditor", "admin"):
            method, path, body = action(env)
            head = env.head()
            with env.client(role) as client:
                response = client.request(method, path, json=body)
            writes = method != "GET"
            if role in allowed:
                if response.status_code != 200:
                    mismatches.append((what, role, response.status_code, response.text))
                if what == "expire a license":
                    env.due.pop(0)
                continue
            answer = response.json()
            if response.status_code != 403 or answer["missing_right"] != right or answer["role"] != role:
                mismatches.append((what, role, response.status_code, response.text))
            if writes and env.head() != head:
                mismatches.append((what, role, "stored something", head))
    assert mismatches == []


def test_a_batch_with_one_forbidden_event_is_refused_whole(env: Env) -> None:
    head = env.head()
    code = fresh_code()
    with env.client("vendor") as vendor:
        response = vendor.post("/events", json=[issued(code), registered("sneaky-1")])
    assert response.status_code == 403
    assert response.json()["message"] == (
        "event 2: this token (role vendor) lacks the right `append DeviceRegistered` "
        "(held by: system, admin); nothing was stored"
    )
    assert env.head() == head
    with env.client("auditor") as auditor:
        assert auditor.get("/devices/sneaky-1/status").status_code == 404


def test_a_device_token_cannot_smuggle_another_device_into_a_batch(env: Env) -> None:
    head = env.head()
    batch = [
        {"type": "TryAgainClicked", "device": "d1"},
        {"type": "LicenseRemoved", "device": "d2"},
    ]
    with env.client("device") as device:
        response = device.post("/events", json=batch)
    assert response.status_code == 403
    assert response.json()["message"].startswith(
        "event 2: this token (role device, bound to device 'd1') lacks the right `append LicenseRemoved` "
        "for device 'd2'"
    )
    assert env.head() == head


# --- refused input ------------------------------------------------------------------------


def test_a_refused_event_refuses_the_batch_and_stores_nothing(env: Env) -> None:
    head = env.head()
    code = fresh_code()
    with env.client("admin") as admin:
        response = admin.post("/events", json=[registered("never-1"), issued(code, term_days=0)])
    assert response.status_code == 422
    assert response.json() == {
        "error": "input_refused",
        "message": "line 2, CodeIssued, `$.term_days`: expected int >= 1, found 0; nothing was stored",
        "line": 2,
        "event_type": "CodeIssued",
        "field": "$.term_days",
        "expected": "int >= 1",
        "found": "0",
        "stored": False,
    }
    assert env.head() == head
    with env.client("auditor") as auditor:
        assert auditor.get("/devices/never-1/status").status_code == 404
        assert code not in auditor.get("/events", params={"limit": 1000}).text


@pytest.mark.parametrize(
    ("method", "path", "content", "field", "expected"),
    [
        ("POST", "/events", b"{not json", None, "a JSON event object, or an array of them"),
        ("POST", "/events", b'"CodeIssued"', None, "a JSON event object, or an array of them"),
        ("POST", "/events", b'[{"type": "Nope"}]', "$.type", "a `type`, one of CodeIssued"),
        ("POST", "/devices/d1/codes", b"{}", "$.code", "the required field `code`"),
        (
            "POST",
            "/devices/d1/codes",
            b'{"code": "X", "colour": 1}',
            "$.colour",
            "only the fields `code`, `id`",
        ),
        ("POST", "/devices/d1/try-again", b'{"device": "d2"}', "$.device", "only the fields `id`"),
        ("POST", "/devices/not a device/codes", b'{"code": "X"}', "$.device", "str matching regex"),
        ("GET", "/devices/d1/status?as_of=yesterday", b"", "as_of", "an RFC 3339 timestamp"),
        ("GET", "/events?limit=0", b"", "limit", "a whole number from 1 to 9223372036854775807"),
        ("GET", "/events?after=first", b"", "after", "a whole number from 0 to 9223372036854775807"),
        ("POST", "/tick", b'{"now": 5}', "$.now", "an RFC 3339 timestamp"),
    ],
)
def test_malformed_requests_are_422_and_name_the_field(
    env: Env, method: str, path: str, content: bytes, field: str | None, expected: str
) -> None:
    head = env.head()
    with env.client("admin") as admin:
        response = admin.request(method, path, content=content, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["error"] == "input_refused" and answer["stored"] is False
    assert answer["field"] == field
    assert answer["expected"].startswith(expected)
    assert answer["message"].endswith("nothing was stored")
    assert env.head() == head


def test_a_batch_over_the_cap_is_422_and_a_body_over_the_cap_is_413(env: Env) -> None:
    head = env.head()
    with env.client("admin") as admin:
        batch = [registered(f"many-{n}") for n in range(51)]
        response = admin.post("/events", json=batch)
        assert response.status_code == 422
        assert response.json()["message"] == (
            "expected at most 50 events in one request, found 51 events; nothing was stored"
        )
        response = admin.post("/events", json=[registered("big", id="x" * 100)] * 1 + [{"pad": "y" * 70_000}])
        assert response.status_code == 413
        assert response.json() == {
            "error": "body_too_large",
            "message": "expected a request body of at most 65536 bytes, found more; nothing was stored",
            "stored": False,
        }
    assert env.head() == head


def test_an_unknown_device_is_404_with_its_name(env: Env) -> None:
    with env.client("auditor") as auditor:
        for path in ("/devices/ghost/status", "/devices/ghost/trace"):
            response = auditor.get(path)
            assert response.status_code == 404
            assert response.json()["error"] == "unknown_device"
            assert response.json()["message"].startswith("device 'ghost' was never registered")
        before = auditor.get("/devices/e3/status", params={"as_of": "2019-12-31T00:00:00Z"})
    assert before.status_code == 404
    assert before.json()["message"] == "device 'e3' was never registered as of 2019-12-31T00:00:00Z"


# --- the routes at work ----------------------------------------------------------------


def test_status_as_of_a_moment_in_the_past(env: Env) -> None:
    with env.client("auditor") as auditor:
        registered_only = auditor.get("/devices/e3/status", params={"as_of": "2020-01-01T00:00:30Z"}).json()
        active = auditor.get("/devices/e3/status", params={"as_of": "2020-01-01T12:00:00+02:00"}).json()
    assert registered_only["state"] == "unlicensed" and registered_only["license"] is None
    assert active["as_of"] == "2020-01-01T10:00:00Z"
    assert active["state"] == "active"
    assert active["license"]["expires_at"] == "2020-01-02T00:01:00Z"
    assert active["license"]["code"].startswith("*****-*****-*****-")


def test_the_device_buttons_renew_a_license(env: Env) -> None:
    first, second = fresh_code(), fresh_code()
    env.append(issued(first, term_days=30), issued(second, term_days=365), registered("flow-1"))
    token = new_token(env.tokens_path, "device", device="flow-1")  # the service reads the file again
    with env.service.client(token) as device:
        activated = device.post("/devices/flow-1/codes", json={"code": dashed(first).lower()}).json()
        assert (activated["type"], activated["result"]) == ("CodeEntered", "activated")
        backup = device.post("/devices/flow-1/codes", json={"code": second, "id": "renew-1"}).json()
        assert backup["result"] == "backup_added"
        again = device.post("/devices/flow-1/codes", json={"code": second, "id": "renew-1"}).json()
        assert (again["seq"], again["stored"]) == (backup["seq"], False)
        other = device.post("/devices/flow-1/codes", json={"code": first, "id": "renew-1"})
        assert other.status_code == 422 and other.json()["field"] == "$.id"
        status = device.get("/devices/flow-1/status").json()
        assert status["state"] == "active"
        assert status["backup"]["state"] == "pending"
        assert status["backup"]["code"] == "*****-*****-*****-" + second[-5:]
        assert status["actions"] == ["remove_license"]
        ignored = device.post("/devices/flow-1/try-again").json()
        assert (ignored["result"], ignored["reason"]) == ("ignored", "action_not_available")
        renewed = device.delete("/devices/flow-1/license").json()
        assert (renewed["type"], renewed["result"]) == ("LicenseRemoved", "renewed")
        assert device.get("/devices/flow-1/status").json()["license"]["code"].endswith(second[-5:])
        trace = device.get("/devices/flow-1/trace").json()
    assert [(e["type"], e["result"], e["state"]) for e in trace] == [
        ("DeviceRegistered", "recorded", "unlicensed"),
        ("CodeEntered", "activated", "active"),
        ("CodeEntered", "backup_added", "active"),
        ("TryAgainClicked", "ignored", "active"),
        ("LicenseRemoved", "renewed", "active"),
    ]


def test_the_feed_pages_by_seq_and_shows_no_raw_code(env: Env) -> None:
    head = env.head()
    with env.client("auditor") as auditor:
        first = auditor.get("/events", params={"limit": 3}).json()
        rest = auditor.get("/events", params={"after": 3, "limit": 2}).json()
        everything = auditor.get("/events", params={"limit": 5000})
    assert [e["seq"] for e in first] == [1, 2, 3]
    assert [e["seq"] for e in rest] == [4, 5]
    event = first[0]
    assert set(event) == {
        "seq",
        "type",
        "at",
        "device",
        "result",
        "reason",
        "detail",
        "hash",
        "payload",
        "evidence",
    }
    assert (event["type"], event["at"], event["result"]) == ("CodeIssued", PAST, "recorded")
    assert event["payload"]["code"]["well_formed"] is True and "sha256" in event["payload"]["code"]
    assert [e["seq"] for e in everything.json()] == list(range(1, min(head, 1000) + 1))
    assert env.raw_codes and not any(code in everything.text for code in env.raw_codes)


def test_tick_now_and_at_a_moment(env: Env) -> None:
    with env.client("system") as system:
        past = system.post("/tick", json={"now": PAST})  # before the log's last event
        response = system.post("/tick")
    assert past.status_code == 422
    assert past.json()["field"] == "now" and "at or after" in past.json()["expected"]
    assert response.status_code == 200
    assert all(e["type"] == "LicenseExpired" for e in response.json())


def test_the_access_log_has_one_json_line_per_request_and_no_secret(env: Env) -> None:
    with env.client("device") as device:
        device.post("/devices/d1/codes", json={"code": "SECRE-TSECR-ETSEC-RET99"})
    with env.client(None) as anyone:
        anyone.get("/verify")
    lines = env.service.access_log()
    assert lines and all(
        set(line) == {"ts", "method", "route", "path", "status", "duration_ms", "role"} for line in lines
    )
    # Other requests of the module's service (the system's ticks) may come between: find ours.
    entered = [line for line in lines if line["path"] == "/devices/d1/codes"][-1]
    assert {
        "method": "POST",
        "route": "/devices/{device}/codes",
        "status": 200,
        "role": "device",
    }.items() <= entered.items()
    verified = [line for line in lines if line["route"] == "/verify"][-1]
    assert (verified["status"], verified["role"]) == (401, None)
    text = env.service.log_text()
    assert not any(token in text for token in env.tokens.values())
    assert "SECRE" not in text and not any(code in text for code in env.raw_codes)


def test_every_route_is_documented_with_an_example(tmp_path: Path) -> None:
    document = create_app(tmp_path / "ledger.db", None, insecure_no_auth=True).openapi_schema.to_schema()
    guide = (Path(__file__).parent.parent / "docs" / "service.md").read_text()
    for path, item in document["paths"].items():
        for method in item:
            assert f"{method.upper()} {path}" in guide, f"{method.upper()} {path}"
            verb = "" if method == "get" else f"-X {method.upper()} "
            example = re.escape(f"http://127.0.0.1:8000{path}").replace(r"\{device\}", "[a-z0-9-]+")
            assert re.search(f"curl {verb}'?{example}", guide), f"no curl example of {method.upper()} {path}"


def test_the_service_refuses_to_run_open_to_everyone_by_accident(tmp_path: Path) -> None:
    with pytest.raises(TokenError, match="refusing to serve without a token file.*--insecure-no-auth"):
        create_app(tmp_path / "ledger.db", None)
    app = create_app(tmp_path / "ledger.db", None, tick_every=0, insecure_no_auth=True)
    with TestClient(app) as open_to_all:  # the explicit choice: no token, every right
        assert open_to_all.post("/events", json=registered("open-1")).json()[0]["result"] == "recorded"
        assert open_to_all.get("/verify").json()["ok"] is True


# --- load, two processes, the ticker --------------------------------------------------------


async def _burst(
    requests: list[tuple[str, str, str, Any]], token_of: Callable[[str], str]
) -> list[httpx.Response]:
    """Send every request at once (up to 64 connections per server)."""
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(timeout=60, limits=limits, verify=False) as client:

        async def send(url: str, method: str, role_or_device: str, body: Any) -> httpx.Response:
            headers = {"Authorization": f"Bearer {token_of(role_or_device)}"}
            return await client.request(method, url, json=body, headers=headers)

        return await asyncio.gather(*(send(*r) for r in requests))


def _contest(
    folder: Path, servers: list[Service], tokens: dict[str, str], devices: list[str], seats: int
) -> None:
    """Many devices enter one code with few seats, spread over ``servers``; check the outcome."""
    code = fresh_code()
    url = servers[0].url
    with servers[0].client(tokens["admin"]) as admin:
        seeded = admin.post("/events", json=[issued(code, max_devices=seats), *map(registered, devices)])
        assert seeded.status_code == 200, seeded.text
    requests: list[tuple[str, str, str, Any]] = []
    for n, device in enumerate(devices):
        url = servers[n % len(servers)].url
        requests.append((f"{url}/devices/{device}/codes", "POST", device, {"code": code}))
        requests.append((f"{url}/devices/{device}/status", "GET", "auditor", None))
        if n % 3 == 0:
            requests.append((f"{url}/events?after={n}&limit=50", "GET", "auditor", None))
    # The same idempotency key sent to every server at once: stored once.
    for n, device in enumerate(devices[:10]):
        update = {"type": "AppUpdated", "device": device, "app_version": "1.0", "id": f"{code}-{n}"}
        requests.extend((f"{server.url}/events", "POST", "admin", update) for server in servers)
    responses = asyncio.run(_burst(requests, tokens.__getitem__))
    assert [r.status_code for r in responses] == [200] * len(responses)
    entered = [r.json() for r in responses if r.request.url.path.endswith("/codes")]
    repeats: dict[str, list[tuple[int, bool]]] = {}
    for r in responses:
        if r.request.method == "POST" and r.request.url.path == "/events":
            [answer] = r.json()
            repeats.setdefault(r.request.content.decode(), []).append((answer["seq"], answer["stored"]))
    assert all(
        len({seq for seq, _ in answers}) == 1
        and sorted(stored for _, stored in answers) == [False] * (len(servers) - 1) + [True]
        for answers in repeats.values()
    ), repeats
    assert Counter((e["result"], e["reason"]) for e in entered) == {
        ("activated", None): seats,
        ("rejected", "device_limit_reached"): len(devices) - seats,
    }
    for server in servers:
        with server.client(tokens["auditor"]) as auditor:
            report = auditor.get("/verify").json()
            feed = auditor.get("/events", params={"limit": 1000}).json()
            states = Counter(auditor.get(f"/devices/{d}/status").json()["state"] for d in devices)
        assert report["ok"], report
        assert [e["seq"] for e in feed] == list(range(1, len(feed) + 1))
        assert states == {"active": seats, "unlicensed": len(devices) - seats}
    # Replay: the stored payloads, appended to a fresh store, give the same results.
    with Ledger.open(folder / f"replay-{len(servers)}.db") as fresh:
        replayed = fresh.append(e["payload"] for e in feed)
    assert [(a.seq, a.result, a.reason) for a in replayed] == [
        (e["seq"], e["result"], e["reason"]) for e in feed
    ]


def test_a_burst_of_requests_contesting_two_seats(tmp_path: Path) -> None:
    tokens_path = tmp_path / "tokens.json"
    devices = [f"burst-{n:03d}" for n in range(120)]
    tokens = {role: new_token(tokens_path, role) for role in ("admin", "auditor")}
    tokens.update({d: new_token(tokens_path, "device", device=d) for d in devices})
    server = start_service(tmp_path / "ledger.db", tokens_path, tick_every=0)
    try:
        _contest(tmp_path, [server], tokens, devices, seats=2)
    finally:
        assert server.stop(), server.log_text()
    assert len(server.access_log()) > 300


def test_two_service_processes_on_one_file(tmp_path: Path) -> None:
    tokens_path = tmp_path / "tokens.json"
    devices = [f"pair-{n:03d}" for n in range(60)]
    tokens = {role: new_token(tokens_path, role) for role in ("admin", "auditor")}
    tokens.update({d: new_token(tokens_path, "device", device=d) for d in devices})
    servers = [start_service(tmp_path / "ledger.db", tokens_path, tick_every=0.2) for _ in range(2)]
    try:
        # A license already due: both processes' tickers race to expire it.
        old = fresh_code()
        with servers[1].client(tokens["admin"]) as admin:
            seeded = admin.post(
                "/events",
                json=[
                    issued(old, term_days=1, at=PAST),
                    registered("pair-due", at=PAST),
                    {"type": "CodeEntered", "device": "pair-due", "code": old, "at": PAST},
                ],
            )
            assert seeded.status_code == 200, seeded.text
        _contest(tmp_path, servers, tokens, devices, seats=3)
        time.sleep(0.5)  # a few more ticks in both processes
        for server in servers:
            with server.client(tokens["auditor"]) as auditor:
                trace = auditor.get("/devices/pair-due/trace").json()
            assert [(e["type"], e["result"]) for e in trace][1:] == [
                ("CodeEntered", "activated"),
                ("LicenseExpired", "expired"),
            ]
    finally:
        stopped = [server.stop() for server in servers]
    assert stopped == [True, True], [server.log_text() for server in servers]
    assert all(server.access_log() for server in servers)


def test_the_background_tick_expires_a_license(tmp_path: Path) -> None:
    tokens_path = tmp_path / "tokens.json"
    admin, auditor = new_token(tokens_path, "admin"), new_token(tokens_path, "auditor")
    server = start_service(tmp_path / "ledger.db", tokens_path, tick_every=0.5)
    try:
        code = fresh_code()
        with server.client(admin) as client:
            response = client.post(
                "/events",
                json=[
                    issued(code, term_days=1, at=PAST),
                    registered("old-1", at=PAST),
                    {"type": "CodeEntered", "device": "old-1", "code": code, "at": PAST},
                ],
            )
            assert [e["result"] for e in response.json()] == ["recorded", "recorded", "activated"]
        with server.client(auditor) as client:
            deadline = time.monotonic() + 10
            while client.get("/devices/old-1/status").json()["state"] != "expired":
                assert time.monotonic() < deadline, "the ticker did not expire the license"
                time.sleep(0.1)
            time.sleep(1.2)  # two more ticks: nothing more is due
            trace = client.get("/devices/old-1/trace").json()
    finally:
        assert server.stop(), server.log_text()
    assert [(e["type"], e["result"]) for e in trace][-1] == ("LicenseExpired", "expired")
    assert [e["type"] for e in trace].count("LicenseExpired") == 1
    assert "tick appended 1 LicenseExpired event(s)" in server.log_text()


def test_a_revoked_token_is_refused_by_the_running_service(env: Env) -> None:
    token = new_token(env.tokens_path, "auditor")
    with env.service.client(token) as auditor:
        assert auditor.get("/verify").status_code == 200
        token_id = hashlib.sha256(token.encode()).hexdigest()[:12]
        revoke_token(env.tokens_path, token_id)
        assert auditor.get("/verify").status_code == 401

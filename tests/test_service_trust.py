"""The trust boundary of the service, over real HTTP: who owns time, who may send a
fingerprint, what a device may see, bad input that must never be a 500, and the
413 that a client sending its whole body first can read.

Every test talks to a uvicorn subprocess (``tests/live_service.py``).
"""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from license_ledger.engine.codes import seal_code
from license_ledger.service.tokens import new_token
from live_service import Service, start_service

PAST = "2020-01-01T00:00:00Z"
MAX_BODY = 64 * 1024
SKEW = 300
_codes = itertools.count(1)


def fresh_code() -> str:
    return f"TRUST{next(_codes):015d}"


def issued(code: str, **more: Any) -> dict[str, Any]:
    return {
        "type": "CodeIssued",
        "code": code,
        "kind": "commercial",
        "term_days": 365,
        "max_devices": 1,
        **more,
    }


def registered(device: str, **more: Any) -> dict[str, Any]:
    return {"type": "DeviceRegistered", "device": device, "app_version": "1.0", **more}


def fingerprint(code: str) -> dict[str, Any]:
    ref = seal_code(code)
    return {"sha256": ref.sha256, "tail": ref.tail, "well_formed": ref.well_formed}


def stamp(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat().replace("+00:00", "Z")


@dataclass
class Env:
    service: Service
    tokens: dict[str, str]

    def client(self, role: str) -> httpx.Client:
        return self.service.client(self.tokens[role])

    def append(self, *events: dict[str, Any]) -> list[dict[str, Any]]:
        with self.client("admin") as admin:
            response = admin.post("/events", json=list(events))
        assert response.status_code == 200, response.text
        return list(response.json())

    def head(self) -> int:
        with self.client("admin") as admin:
            feed = admin.get("/events", params={"limit": 1000}).json()
        return feed[-1]["seq"] if feed else 0


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    folder = tmp_path_factory.mktemp("trust")
    tokens_path = folder / "tokens.json"
    tokens = {role: new_token(tokens_path, role) for role in ("vendor", "system", "auditor", "admin")}
    tokens["device"] = new_token(tokens_path, "device", device="t1")
    service = start_service(
        folder / "ledger.db", tokens_path, tick_every=0, max_body=MAX_BODY, max_clock_skew=SKEW
    )
    env = Env(service, tokens)
    # The past first: backfills are allowed, and time never goes backwards in the log.
    env.append(*(registered(device, at=PAST) for device in ("t1", "t2", "t3")))
    try:
        yield env
    finally:
        assert service.stop(), service.log_text()


def refusal(response: httpx.Response, field: str | None, line: int | None = None) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    answer: dict[str, Any] = response.json()
    assert answer["error"] == "input_refused" and answer["stored"] is False
    assert answer["field"] == field and answer["line"] == line, answer
    assert answer["message"].endswith("nothing was stored")
    return answer


# --- 1. the server owns time ------------------------------------------------------------------


@pytest.mark.parametrize("at", [PAST, "2026-01-01T00:00:00Z", None])
def test_a_device_token_never_chooses_the_time_of_its_events(env: Env, at: str | None) -> None:
    head = env.head()
    stamped = {} if at is None else {"at": at}
    with env.client("device") as device:
        posted = device.post("/events", json=[{"type": "TryAgainClicked", "device": "t1", **stamped}])
        if at is None:
            assert posted.status_code == 200, posted.text  # no `at`: the service's clock
            return
        answer = refusal(posted, "$.at", line=1)
        assert answer["event_type"] == "TryAgainClicked"
        assert "device token take the service's clock" in answer["expected"]
        for path, body in [
            ("/devices/t1/try-again", {"at": at}),
            ("/devices/t1/codes", {"code": fresh_code(), "at": at}),
        ]:
            answer = refusal(device.post(path, json=body), "$.at")
            assert "service's clock" in answer["message"]
        answer = refusal(device.request("DELETE", "/devices/t1/license", json={"at": at}), "$.at")
    assert env.head() == head


@pytest.mark.parametrize("role", ["vendor", "system", "admin"])
def test_other_roles_backfill_the_past_but_not_the_future_beyond_the_skew(env: Env, role: str) -> None:
    make = {
        "vendor": lambda at: issued(fresh_code(), at=at),
        "system": lambda at: {"type": "AppUpdated", "device": "t2", "app_version": "1.1", "at": at},
        "admin": lambda at: {"type": "AppUpdated", "device": "t3", "app_version": "1.2", "at": at},
    }[role]
    head = env.head()
    with env.client(role) as client:
        ahead = client.post(
            "/events", json=[make(stamp(timedelta(0))), make(stamp(timedelta(seconds=2 * SKEW)))]
        )
        answer = refusal(ahead, "$.at", line=2)
        assert answer["expected"].startswith("a time no later than ")
        assert f"--max-clock-skew {SKEW} s" in answer["expected"]
        assert env.head() == head
        within = client.post("/events", json=make(stamp(timedelta(0))))
        assert within.status_code == 200, within.text
        past = client.post("/events", json=make(PAST))  # before the last event: the library's refusal
        assert refusal(past, "$.at", line=1)["expected"].startswith("a time at or after")


def test_a_tick_now_beyond_the_skew_is_refused(env: Env) -> None:
    with env.client("system") as system:
        ahead = system.post("/tick", json={"now": stamp(timedelta(seconds=2 * SKEW))})
        assert refusal(ahead, "$.now")["expected"].startswith("a time no later than ")
        assert system.post("/tick", json={"now": stamp(timedelta(seconds=1))}).status_code == 200


ENDS = [
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "1969-12-31T23:59:59Z",
    "9000-01-01T00:00:00Z",
]


@pytest.mark.parametrize("moment", ENDS)
def test_times_at_the_ends_of_the_calendar_are_422_never_500(env: Env, moment: str) -> None:
    head = env.head()
    with env.client("admin") as admin:
        as_of = admin.get("/devices/t1/status", params={"as_of": moment})
        refusal(as_of, "as_of")
        refusal(admin.post("/tick", json={"now": moment}), "$.now")
        refusal(admin.post("/events", json=[registered(f"end-{next(_codes)}", at=moment)]), "$.at", line=1)
        late = issued(fresh_code(), purchased_at=moment)
        refusal(
            admin.post("/events", json=[registered(f"end-{next(_codes)}"), late]), "$.purchased_at", line=2
        )
    assert env.head() == head


# --- 2. a fingerprint is not the code ------------------------------------------------------------


def test_only_the_admin_may_send_a_code_as_its_fingerprint(env: Env) -> None:
    code = fresh_code()
    env.append(issued(code, max_devices=10))
    head = env.head()
    refused = [
        ("vendor", "/events", [issued(fresh_code()), {"type": "CodeBlocked", "code": fingerprint(code)}], 2),
        ("device", "/events", [{"type": "CodeEntered", "device": "t1", "code": fingerprint(code)}], 1),
        ("device", "/devices/t1/codes", {"code": fingerprint(code)}, 1),
    ]
    for role, path, body, line in refused:
        with env.client(role) as client:
            answer = refusal(client.post(path, json=body), "$.code", line=line)
        assert "only the admin role may send a stored fingerprint" in answer["expected"]
        assert code not in json.dumps(answer) and fingerprint(code)["sha256"] not in json.dumps(answer)
    assert env.head() == head
    # The admin imports an exported log: its payloads carry fingerprints.
    fresh = fresh_code()
    with env.client("admin") as admin:
        imported = admin.post("/events", json={**issued(fresh), "code": fingerprint(fresh)})
        assert imported.status_code == 200, imported.text
        entered = admin.post("/devices/t3/codes", json={"code": fingerprint(fresh)})
    assert entered.json()["result"] == "activated"


# --- 3. devices see only themselves -----------------------------------------------------------------


def test_a_device_reads_no_other_device_in_results_and_traces(env: Env) -> None:
    seat, blocked = fresh_code(), fresh_code()
    env.append(
        issued(seat, max_devices=1),
        registered("owner-a"),
        registered("owner-b"),
        {"type": "CodeEntered", "device": "owner-a", "code": seat},
    )
    with env.client("device") as device:
        full = device.post("/devices/t1/codes", json={"code": seat}).json()
        posted = device.post("/events", json={"type": "CodeEntered", "device": "t1", "code": seat}).json()
    for answer in (full, posted[0]):
        assert (answer["result"], answer["reason"]) == ("rejected", "device_limit_reached")
        assert answer["detail"] == {"max_devices": 1, "seats_held": 1}
    # A code held by t1 and by others, then blocked by the vendor.
    env.append(
        issued(blocked, max_devices=5),
        *({"type": "CodeEntered", "device": d, "code": blocked} for d in ("owner-b", "t2")),
    )
    with env.client("admin") as admin:
        admin.delete("/devices/t1/license")  # t1's earlier license, if any, gives its seat back
        assert admin.post("/devices/t1/codes", json={"code": blocked}).json()["result"] == "activated"
    with env.client("vendor") as vendor:
        [block] = vendor.post("/events", json={"type": "CodeBlocked", "code": blocked}).json()
    assert block["detail"]["blocked_devices"] == ["owner-b", "t1", "t2"]  # the vendor sees them all
    with env.client("device") as device:
        trace = device.get("/devices/t1/trace")
    with env.client("auditor") as auditor:
        audited = auditor.get("/devices/t1/trace").json()
    details = {(e["type"], e["reason"]): e["detail"] for e in trace.json()}
    assert details["CodeEntered", "device_limit_reached"] == {"max_devices": 1, "seats_held": 1}
    assert details["CodeBlocked", None] == {"blocked_devices": ["t1"]}
    for name in ("owner-a", "owner-b", "t2"):
        assert name not in trace.text and name not in json.dumps(full)
    seen = {(e["type"], e["reason"]): e["detail"] for e in audited}
    assert seen["CodeEntered", "device_limit_reached"] == {"max_devices": 1, "held_by": ["owner-a"]}
    assert seen["CodeBlocked", None] == {"blocked_devices": ["owner-b", "t1", "t2"]}


# --- 5. no 500 for bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field", "expected"),
    [
        ({"after": str(2**63)}, "after", "a whole number from 0 to 9223372036854775807"),
        ({"after": "-1"}, "after", "a whole number from 0 to 9223372036854775807"),
        ({"after": "9" * 5000}, "after", "a whole number from 0 to 9223372036854775807"),
        ({"after": "١٢"}, "after", "a whole number from 0 to 9223372036854775807"),
        ({"limit": str(2**64)}, "limit", "a whole number from 1 to 9223372036854775807"),
        ({"limit": "-5"}, "limit", "a whole number from 1 to 9223372036854775807"),
        ({"limit": "+5"}, "limit", "a whole number from 1 to 9223372036854775807"),
    ],
)
def test_feed_numbers_out_of_range_are_422(
    env: Env, query: dict[str, str], field: str, expected: str
) -> None:
    with env.client("auditor") as auditor:
        answer = refusal(auditor.get("/events", params=query), field)
    assert answer["expected"] == expected


def test_the_largest_feed_numbers_are_answered(env: Env) -> None:
    with env.client("auditor") as auditor:
        assert auditor.get("/events", params={"after": str(2**63 - 1)}).json() == []
        assert len(auditor.get("/events", params={"limit": str(2**63 - 1)}).json()) == env.head()


DEEP = b"[" * 5000 + b"]" * 5000
DEEP_OBJECT = b'{"id": ' + b'{"a": ' * 3000 + b"1" + b"}" * 3000 + b"}"


@pytest.mark.parametrize(
    ("role", "method", "path", "content"),
    [
        ("admin", "POST", "/events", DEEP),
        ("admin", "POST", "/events", b'[{"type": "AppUpdated", "x": ' + DEEP + b"}]"),
        ("device", "POST", "/devices/t1/codes", DEEP_OBJECT),
        ("device", "POST", "/devices/t1/try-again", DEEP),
        ("device", "DELETE", "/devices/t1/license", DEEP_OBJECT),
        ("system", "POST", "/tick", DEEP_OBJECT),
        ("admin", "POST", "/events", b'{"type": "DeviceRegistered", "device": "\xff\xfe"}'),
        ("device", "POST", "/devices/t1/codes", b'{"code": "\xc3("}'),
        ("system", "POST", "/tick", b"\xff"),
    ],
)
def test_deep_nesting_and_bodies_that_are_not_utf8_are_422(
    env: Env, role: str, method: str, path: str, content: bytes
) -> None:
    head = env.head()
    with env.client(role) as client:
        response = client.request(method, path, content=content, headers={"content-type": "application/json"})
    answer = refusal(response, None)
    assert any(why in answer["found"] for why in ("nested too deeply", "not UTF-8", "malformed JSON")), answer
    assert env.head() == head


# --- 7. a 413 that a naive client reads ---------------------------------------------------------------


def test_a_client_that_sends_its_whole_body_first_reads_the_413(env: Env) -> None:
    """``urllib.request`` writes the whole body before it reads the answer.

    8 MB: more than the loopback's socket buffers take in while nobody reads
    (a few MB), so this client saw a reset before the service drained bodies;
    less than what the service drains (``DRAIN_AT_LEAST``).
    """
    body = b"[" + b" " * (8_000_000 - 2) + b"]"
    request = urllib.request.Request(
        f"{env.service.url}/events",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {env.tokens['admin']}", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 413
    assert json.loads(caught.value.read()) == {
        "error": "body_too_large",
        "message": f"expected a request body of at most {MAX_BODY} bytes, found more; nothing was stored",
        "stored": False,
    }
    # The connection was left clean: the service goes on answering.
    with env.client("auditor") as auditor:
        assert auditor.get("/verify").json()["ok"] is True


def test_options_lists_every_method_of_a_path(env: Env) -> None:
    with httpx.Client(base_url=env.service.url) as anyone:
        allowed = anyone.options("/events").headers["allow"]
    assert {"GET", "POST", "OPTIONS"} <= {m.strip() for m in allowed.split(",")}


def test_the_service_refuses_a_negative_clock_skew(tmp_path: Path) -> None:
    from license_ledger.service.app import create_app

    with pytest.raises(ValueError, match="max_clock_skew"):
        create_app(tmp_path / "l.db", None, insecure_no_auth=True, max_clock_skew=-1)


def test_the_guide_shows_the_answer_a_device_gets_for_an_at(env: Env) -> None:
    guide = (Path(__file__).parent.parent / "docs" / "service.md").read_text()
    trust = guide[guide.index("## Trust") : guide.index("## Routes")]
    assert "curl -X POST http://127.0.0.1:8000/devices/laptop-1/try-again" in trust
    documented = json.loads(trust.split("```json\n")[1].split("```")[0])
    with env.client("device") as device:
        answer = device.post("/devices/t1/try-again", json={"at": "2026-11-02T12:00:00Z"})
    assert answer.status_code == 422 and answer.json() == documented


def test_the_command_line_sets_the_clock_skew(tmp_path: Path) -> None:
    ahead = (datetime.now(UTC) + timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    event = {"type": "DeviceRegistered", "device": "far", "app_version": "1.0", "at": ahead}
    for skew, status in (("3600", 200), ("60", 422)):
        service = start_service(tmp_path / f"skew-{skew}.db", None, cli=("--max-clock-skew", skew))
        try:
            with service.client() as client:
                answer = client.post("/events", json=event)
            assert answer.status_code == status, answer.text
        finally:
            assert service.stop()

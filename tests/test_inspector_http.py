"""The inspector over real HTTP, without a browser: `inspect` never writes, who may sign in
and see what under the service's /ui/, cookies, cross-site posts, errors as pages.

The browser tests (``test_inspector_browser.py``) check what a person sees.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from license_ledger.cli.main import main
from license_ledger.engine.moments import format_time
from license_ledger.engine.vocabulary import ACTIONS, BACKUP_STATES, EVENT_NAMES, REASONS, RESULTS, STATES
from license_ledger.ledger import Ledger
from license_ledger.service.inspector.words import WORDS
from license_ledger.service.tokens import list_tokens, new_token, revoke_token
from live_inspector import csrf_of, demo_ledger, sign_in, start_inspector
from live_service import Service, start_service

DEVICES = ("home-laptop", "office-desktop", "kids-tablet", "studio-pc", "workstation", "reception-pc")


def folder_state(folder: Path) -> dict[str, str]:
    """Every file in a folder and the SHA-256 of its bytes."""
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


# --- the plain words ------------------------------------------------------------------


def test_every_word_of_the_engine_has_plain_words_and_no_more() -> None:
    expected = {
        *(("result", code) for code in RESULTS),
        *(("reason", code) for code in REASONS),
        *(("state", code) for code in STATES),
        *(("backup", code) for code in BACKUP_STATES),
        *(("action", code) for code in ACTIONS),
        *(("event", code) for code in EVENT_NAMES),
    }
    table = {key for key in WORDS if key[0] != "detail"}
    assert table == expected
    assert all(phrase and phrase != code for (_, code), phrase in WORDS.items())


# --- license-ledger inspect ----------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("inspect")
    demo_ledger(folder / "demo.db")
    return folder


def test_inspect_prints_its_address_serves_every_page_and_never_writes(demo_folder: Path) -> None:
    db = demo_folder / "demo.db"
    before = folder_state(demo_folder)
    inspector = start_inspector(db)
    try:
        with httpx.Client(base_url=inspector.url, timeout=30) as client:
            overview = client.get("/")
            assert overview.status_code == 200
            for device in DEVICES:
                assert f'href="/devices/{device}"' in overview.text
            pages = ["/devices/kids-tablet", "/devices/kids-tablet?as_of=2025-06-02T12:00:00Z", "/events/1"]
            pages += ["/events/38", "/devices?q=pc", "/static/inspector.css", "/static/moments.js"]
            for page in pages:
                assert client.get(page).status_code == 200, page
            form = client.get("/")
            verified = client.post("/verify", data={"_csrf_token": csrf_of(form.text)})
            assert verified.status_code == 303
            assert "Passed" in client.get("/").text
    finally:
        log = inspector.stop()
    assert f"at {inspector.url}/" in log
    assert "Traceback" not in log
    after = {name: digest for name, digest in folder_state(demo_folder).items() if not name.endswith(".log")}
    assert after == before, "inspect changed the folder of the file it read"


def test_inspect_reads_a_file_a_writer_changes_meanwhile(tmp_path: Path) -> None:
    db = demo_ledger(tmp_path / "demo.db")
    inspector = start_inspector(db)
    try:
        with httpx.Client(base_url=inspector.url, timeout=30) as client:
            assert ">38<" in client.get("/").text
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "license_ledger.cli",
                    "tick",
                    "--db",
                    str(db),
                    "--now",
                    "2030-01-01T00:00:00Z",
                ],
                check=True,
                capture_output=True,
            )
            overview = client.get("/")
            assert overview.status_code == 200
            assert 'id="event-count">38<' not in overview.text
    finally:
        assert "Traceback" not in inspector.stop()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::"])
def test_inspect_refuses_a_host_beyond_loopback_without_a_token_file(tmp_path: Path, host: str) -> None:
    db = demo_ledger(tmp_path / "demo.db")
    result = CliRunner().invoke(main, ["inspect", "--db", str(db), "--host", host])
    assert result.exit_code == 2
    assert "--tokens" in result.output and len(result.output.strip().splitlines()) == 1


def test_inspect_of_a_missing_file_is_one_line_and_creates_nothing(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["inspect", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 2
    assert "no such file" in result.output
    assert list(tmp_path.iterdir()) == []


def test_inspect_with_a_token_file_asks_for_a_token(tmp_path: Path) -> None:
    db = demo_ledger(tmp_path / "demo.db")
    tokens = tmp_path / "tokens.json"
    auditor = new_token(tokens, "auditor")
    inspector = start_inspector(db, "--tokens", str(tokens))
    try:
        with httpx.Client(base_url=inspector.url, timeout=30) as client:
            first = client.get("/devices/kids-tablet")
            assert first.status_code == 303
            assert first.headers["location"] == "/sign-in?next=%2Fdevices%2Fkids-tablet"
            signed = sign_in(client, "", auditor, "/devices/kids-tablet")
            assert signed.status_code == 303 and signed.headers["location"] == "/devices/kids-tablet"
            assert client.get("/devices/kids-tablet").status_code == 200
    finally:
        inspector.stop()


# --- /ui/ in the service ----------------------------------------------------------------------


class Ui:
    def __init__(self, service: Service, tokens: Path, auditor: str, device: str, vendor: str) -> None:
        self.service, self.tokens = service, tokens
        self.auditor, self.device, self.vendor = auditor, device, vendor

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.service.url, timeout=30, verify=False)


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    folder = tmp_path_factory.mktemp("ui")
    db = demo_ledger(folder / "demo.db")
    tokens = folder / "tokens.json"
    auditor = new_token(tokens, "auditor")
    device = new_token(tokens, "device", "kids-tablet")
    vendor = new_token(tokens, "vendor")
    service = start_service(db, tokens, tick_every=0)
    yield Ui(service, tokens, auditor, device, vendor)
    assert service.stop(), service.log_text()


def test_ui_pages_send_a_stranger_to_the_sign_in_form(ui: Ui) -> None:
    with ui.client() as client:
        for page in ("/ui", "/ui/", "/ui/devices/kids-tablet", "/ui/events/3"):
            answer = client.get(page)
            assert answer.status_code == 303, page
            assert answer.headers["location"].startswith("/ui/sign-in?next=")


@pytest.mark.parametrize("which", ["wrong", "vendor", "empty"])
def test_ui_sign_in_with_a_wrong_token_is_refused_without_saying_why(ui: Ui, which: str) -> None:
    token = {"wrong": "llt_" + "x" * 43, "vendor": ui.vendor, "empty": ""}[which]
    with ui.client() as client:
        answer = sign_in(client, "/ui", token)
        assert answer.status_code == 401
        assert "That token was not accepted." in answer.text
        assert (
            "set-cookie" not in answer.headers or "license_ledger_session" not in answer.headers["set-cookie"]
        )
        assert client.get("/ui/").status_code == 303


def test_ui_sign_in_with_an_auditor_token_sets_a_strict_session_cookie(ui: Ui) -> None:
    with ui.client() as client:
        answer = sign_in(client, "/ui", ui.auditor)
        assert answer.status_code == 303 and answer.headers["location"] == "/ui/"
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("license_ledger_session=")
        for part in ("HttpOnly", "SameSite=Strict", "Path=/ui/", "Max-Age=28800"):
            assert part.lower() in cookie.lower(), cookie
        assert "secure" not in cookie.lower()  # plain HTTP here
        assert ui.auditor not in cookie
        overview = client.get("/ui/")
        assert overview.status_code == 200
        assert "Signed in: auditor" in overview.text
        assert client.get("/ui/devices/studio-pc").status_code == 200
        signed_out = client.post("/ui/sign-out", data={"_csrf_token": csrf_of(overview.text)})
        assert signed_out.status_code == 303
        assert "Max-Age=0" in signed_out.headers["set-cookie"]
        client.cookies.delete("license_ledger_session")
        assert client.get("/ui/").status_code == 303


def test_ui_session_cookie_is_secure_behind_https(ui: Ui) -> None:
    with ui.client() as client:
        form = client.get("/ui/sign-in", headers={"X-Forwarded-Proto": "https"})
        answer = client.post(
            "/ui/sign-in",
            data={"_csrf_token": csrf_of(form.text), "token": ui.auditor, "next": "/ui/"},
            headers={"X-Forwarded-Proto": "https", "Origin": "https://" + ui.service.url.split("//")[1]},
        )
        assert answer.status_code == 303
        assert "secure" in answer.headers["set-cookie"].lower()


def test_ui_sign_in_refuses_a_cross_site_post(ui: Ui) -> None:
    with ui.client() as client:
        form = client.get("/ui/sign-in")
        data = {"_csrf_token": csrf_of(form.text), "token": ui.auditor, "next": "/ui/"}
        foreign = client.post("/ui/sign-in", data=data, headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403
        assert "license_ledger_session" not in foreign.headers.get("set-cookie", "")
        cross = client.post("/ui/sign-in", data=data, headers={"Sec-Fetch-Site": "cross-site"})
        assert cross.status_code == 403
    with ui.client() as fresh:  # no CSRF cookie, a forged field
        forged = fresh.post(
            "/ui/sign-in", data={"_csrf_token": "0" * 128, "token": ui.auditor, "next": "/ui/"}
        )
        assert forged.status_code == 403
        assert "license_ledger_session" not in forged.headers.get("set-cookie", "")


def test_ui_a_forged_or_revoked_session_is_signed_out(ui: Ui, tmp_path: Path) -> None:
    with ui.client() as client:
        assert sign_in(client, "/ui", ui.auditor).status_code == 303
        good = client.cookies["license_ledger_session"]
        expires, digest, mac = good.split(".")
        client.cookies.set("license_ledger_session", f"{int(expires) + 3600}.{digest}.{mac}", path="/ui/")
        assert client.get("/ui/").status_code == 303
    extra = new_token(ui.tokens, "auditor")
    with ui.client() as client:
        assert sign_in(client, "/ui", extra).status_code == 303
        assert client.get("/ui/").status_code == 200
        [info] = [
            t for t in list_tokens(ui.tokens) if t.id == hashlib.sha256(extra.encode()).hexdigest()[:12]
        ]
        revoke_token(ui.tokens, info.id)
        assert client.get("/ui/").status_code == 303


def test_ui_a_device_token_sees_its_own_device_only(ui: Ui) -> None:
    with ui.client() as client:
        assert sign_in(client, "/ui", ui.device).status_code == 303
        overview = client.get("/ui/")
        assert overview.status_code == 303 and overview.headers["location"] == "/ui/devices/kids-tablet"
        own = client.get("/ui/devices/kids-tablet")
        assert own.status_code == 200
        assert "studio-pc" not in own.text  # the seat holder is a count for a device
        assert "seats_held" in own.text
        for page in ("/ui/devices/studio-pc", "/ui/devices/no-such-device", "/ui/events/1", "/ui/events/13"):
            refused = client.get(page)
            assert refused.status_code == 403, page
            assert "studio-pc" not in refused.text
        search = client.get("/ui/devices?q=pc")
        assert search.status_code == 303 and search.headers["location"] == "/ui/devices/kids-tablet"


def test_ui_errors_are_pages_and_never_a_500(ui: Ui) -> None:
    with ui.client() as client:
        sign_in(client, "/ui", ui.auditor)
        cases = {
            "/ui/devices/no-such-device": 404,
            "/ui/devices/kids-tablet?as_of=yesterday": 422,
            "/ui/events/0": 422,
            "/ui/events/99999999999999999999999": 422,
            "/ui/events/9999": 404,
            "/ui/devices?state=happy": 422,
            "/ui/devices?q=" + "x" * 500: 422,
        }
        for page, status in cases.items():
            answer = client.get(page)
            assert answer.status_code == status, (page, answer.text[:300])
            assert answer.headers["content-type"].startswith("text/html")


def test_ui_pages_are_not_in_the_api_document_and_ask_for_nothing_elsewhere(ui: Ui) -> None:
    with ui.client() as client:
        document = client.get("/schema/openapi.json").json()
        assert not [path for path in document["paths"] if path.startswith("/ui")]
        sign_in(client, "/ui", ui.auditor)
        for page in ("/ui/", "/ui/devices/kids-tablet", "/ui/events/13", "/ui/devices?q=e"):
            answer = client.get(page)
            assert "default-src 'none'" in answer.headers["content-security-policy"]
            for url in re.findall(r'(?:href|src|action)="([^"]*)"', answer.text):
                assert url.startswith(("/ui/", "#", "?")), (page, url)


def test_ui_a_device_token_reads_no_seq_of_another_devices_event_in_evidence(ui: Ui) -> None:
    with ui.client() as client:
        sign_in(client, "/ui", ui.auditor)
        seen_by_auditor = client.get("/ui/devices/kids-tablet").text
    with ui.client() as client:
        sign_in(client, "/ui", ui.device)
        seen_by_device = client.get("/ui/devices/kids-tablet").text
    # The failed renewal rests on the studio's activation (#16), which took the last seat.
    assert 'href="/ui/events/16"' in seen_by_auditor
    assert 'href="/ui/events/16"' not in seen_by_device
    assert 'class="evidence"' in seen_by_device  # its own events stay linked


# --- the device page's forensics: diff and what-if ---------------------------------------------


def _rows(html: str, marker: str) -> dict[str, str]:
    """The rows of a table by their ``data-<marker>`` attribute, each as its HTML."""
    return dict(re.findall(rf'<tr data-{marker}="([^"]*)">(.*?)</tr>', html, flags=re.DOTALL))


def test_the_diff_of_two_moments_is_ledger_diff_and_what_if_is_ledger_what_if(tmp_path: Path) -> None:
    db = demo_ledger(tmp_path / "demo.db")
    with Ledger.open(db) as ledger:
        trace = ledger.trace("kids-tablet")
        since, until = format_time(trace[1].at), format_time(trace[-1].at)
        expected = ledger.diff("kids-tablet", since, until)
        answer = ledger.what_if(drop=[29])
    assert expected.changes and answer.first_divergence == 30
    before = folder_state(tmp_path)
    inspector = start_inspector(db)
    try:
        with httpx.Client(base_url=inspector.url, timeout=30) as client:
            page = client.get("/devices/kids-tablet", params={"from": since, "to": until})
            assert page.status_code == 200
            rows = _rows(page.text, "field")
            assert list(rows) == [change.field for change in expected.changes]
            for change in expected.changes:
                assert change.seq is None or f'href="/events/{change.seq}"' in rows[change.field]
            for entry in expected.events:
                assert f'href="/events/{entry.seq}">#{entry.seq}</a>' in page.text
            dropped = client.post(
                "/devices/kids-tablet/what-if", data={"_csrf_token": csrf_of(page.text), "drop": "29"}
            )
            assert dropped.status_code == 200
            assert 'id="what-if-first" data-seq="30"' in dropped.text
            changed = _rows(dropped.text, "seq")
            assert [int(seq) for seq in changed] == [event.seq for event in answer.changed_events]
            assert "dropped" in changed["29"]
            for change in answer.devices:
                assert f'<li data-device="{change.device}">' in dropped.text
            # Dropping the registration makes the log invalid: the one line, as a page.
            refused = client.post(
                "/devices/kids-tablet/what-if", data={"_csrf_token": csrf_of(page.text), "drop": "9"}
            )
            assert refused.status_code == 200
            assert re.search(
                r'id="what-if-refused"[^>]*>Refused: seq 15, CodeEntered, [^<\n]+</p>', refused.text
            )
            assert client.get("/devices/kids-tablet", params={"from": "soon", "to": until}).status_code == 422
    finally:
        assert "Traceback" not in inspector.stop()
    after = {name: digest for name, digest in folder_state(tmp_path).items() if not name.endswith(".log")}
    assert after == before, "a what-if wrote to the ledger"


def test_ui_a_device_token_gets_its_own_diff_and_no_what_if(ui: Ui) -> None:
    with ui.client() as client:
        sign_in(client, "/ui", ui.device)
        moments = {"from": "2025-02-01T18:05:00Z", "to": "2025-06-02T19:05:00Z"}
        page = client.get("/ui/devices/kids-tablet", params=moments)
        assert page.status_code == 200
        assert 'id="diff-changes"' in page.text and 'id="what-if"' not in page.text
        assert 'href="/ui/events/16"' not in page.text
        assert 'action="/ui/devices/kids-tablet/what-if' not in page.text
        refused = client.post(
            "/ui/devices/kids-tablet/what-if", data={"_csrf_token": csrf_of(page.text), "drop": "29"}
        )
        assert refused.status_code == 403
        assert "studio-pc" not in refused.text
    with ui.client() as client:
        sign_in(client, "/ui", ui.auditor)
        page = client.get("/ui/devices/kids-tablet")
        assert 'action="/ui/devices/kids-tablet/what-if#what-if"' in page.text

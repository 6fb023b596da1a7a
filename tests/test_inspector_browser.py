"""The inspector in a real browser: Chromium driven by Playwright, over the demo's story.

The browser is the system's Chromium (``/usr/bin/chromium``, or
``LICENSE_LEDGER_CHROMIUM``): Playwright never downloads one. When no browser
can start, these tests are skipped with the reason, except under CI
(``CI`` set), where they fail: CI installs Chromium (``.ci/run``) and must
run them.

Every test watches what the page asks for and what it logs: no request to
any host but the inspector's own, no console error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from license_ledger.engine.views import TraceEntry
from license_ledger.service.tokens import new_token
from live_inspector import Inspector, demo_ledger, start_inspector
from live_service import Service, start_service

CHROMIUM = os.environ.get("LICENSE_LEDGER_CHROMIUM", "/usr/bin/chromium")
#: What lets Chromium start as root, headless, in a container, and ask nothing of the network by itself.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEVICES = ("home-laptop", "office-desktop", "kids-tablet", "studio-pc", "workstation", "reception-pc")


def _no_browser(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests, but {reason}", pytrace=False)
    pytest.skip(f"no browser: {reason} (install Chromium: apt-get install chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:
        _no_browser(f"Playwright for Python is not installed ({exc})")
    if not Path(CHROMIUM).exists():
        _no_browser(f"{CHROMIUM} does not exist")
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=30_000)
        except Error as exc:
            _no_browser(f"{CHROMIUM} did not start ({str(exc).splitlines()[0]})")
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_ledger(tmp_path_factory.mktemp("browser") / "demo.db")


@pytest.fixture(scope="module")
def inspector(demo_db: Path) -> Iterator[Inspector]:
    running = start_inspector(demo_db)
    yield running
    assert "Traceback" not in running.stop()


@dataclass
class Tokens:
    auditor: str
    device: str


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Tokens]]:
    folder = tmp_path_factory.mktemp("browser-service")
    db = demo_ledger(folder / "demo.db")
    tokens = folder / "tokens.json"
    issued = Tokens(new_token(tokens, "auditor"), new_token(tokens, "device", "kids-tablet"))
    running = start_service(db, tokens, tick_every=0)
    yield running, issued
    assert running.stop(), running.log_text()


@dataclass
class Watched:
    """A page, with every URL it asked for and every console error it logged."""

    page: Any
    origin: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def go(self, path: str) -> Any:
        return self.page.goto(self.origin + path)

    def assert_clean(self) -> None:
        foreign = [url for url in self.requests if not url.startswith(self.origin + "/")]
        assert not foreign, f"requests to other hosts: {foreign}"
        assert not self.errors, f"console errors: {self.errors}"


def watched(browser: Any, origin: str, width: int = 1280) -> Watched:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    seen = Watched(page, origin)
    context.on("request", lambda request: seen.requests.append(request.url))
    page.on("console", lambda message: message.type == "error" and seen.errors.append(message.text))
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    return seen


def cli_json(db: Path, *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "license_ledger.cli", *args, "--db", str(db), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def panel(page: Any) -> tuple[str, list[str]]:
    """The state and the buttons the device page's status panel shows."""
    state = page.locator("#status-state").get_attribute("data-state")
    actions = page.locator("#status-actions").get_attribute("data-actions") or ""
    return state, actions.split()


# --- the inspector on its own ---------------------------------------------------------------


def test_the_overview_lists_the_demos_devices(browser: Any, inspector: Inspector) -> None:
    seen = watched(browser, inspector.url)
    seen.go("/")
    names = seen.page.locator("#device-list a").all_inner_texts()
    assert sorted(names) == sorted(DEVICES)
    assert seen.page.locator("#event-count").inner_text() == "38"
    seen.page.get_by_role("button", name="Verify the whole log now").click()
    assert seen.page.locator("#verify-result").inner_text().startswith("Passed")
    seen.assert_clean()


def test_searching_a_device_opens_its_page(browser: Any, inspector: Inspector) -> None:
    seen = watched(browser, inspector.url)
    seen.go("/")
    seen.page.get_by_label("Find a device").fill("kids-tablet")
    seen.page.get_by_label("Find a device").press("Enter")
    seen.page.wait_for_url(f"{inspector.url}/devices/kids-tablet")
    assert "kids-tablet" in seen.page.locator("h1").inner_text()
    seen.page.get_by_label("Find a device").fill("pc")
    seen.page.get_by_label("Find a device").press("Enter")
    seen.page.get_by_role("link", name="studio-pc").click()
    seen.page.wait_for_url(f"{inspector.url}/devices/studio-pc")
    seen.assert_clean()


@pytest.mark.parametrize("device", DEVICES)
def test_each_event_of_a_device_is_on_its_timeline(
    browser: Any, inspector: Inspector, demo_db: Path, device: str
) -> None:
    trace = cli_json(demo_db, "trace", device)
    seen = watched(browser, inspector.url)
    seen.go(f"/devices/{device}")
    rows = seen.page.locator("#timeline tbody tr")
    assert [int(seq) for seq in rows.evaluate_all("rows => rows.map(r => r.dataset.seq)")] == [
        entry["seq"] for entry in trace
    ]
    for row, entry in zip(rows.all(), trace, strict=True):
        text = row.inner_text()
        assert entry["type"] in text and entry["result"] in text and entry["state"] in text
        assert entry["reason"] is None or entry["reason"] in text
    seen.assert_clean()


def test_an_earlier_moment_shows_what_status_as_of_says(
    browser: Any, inspector: Inspector, demo_db: Path
) -> None:
    seen = watched(browser, inspector.url)
    seen.go("/devices/kids-tablet")
    now = cli_json(demo_db, "status", "kids-tablet")
    assert panel(seen.page) == (now["state"], now["actions"])

    # The form: any moment, typed.
    moment = "2025-06-02T12:00:00Z"
    seen.page.get_by_label("Status as of (RFC 3339)").fill(moment)
    seen.page.get_by_role("button", name="Show", exact=True).click()
    seen.page.wait_for_url(f"**/devices/kids-tablet?as_of={quote(moment, safe='')}")
    then = cli_json(demo_db, "status", "kids-tablet", "--as-of", moment)
    assert panel(seen.page) == (then["state"], then["actions"])
    assert (then["state"], then["actions"]) != (now["state"], now["actions"])

    # A timeline row's link: the status just after that event.
    trace = cli_json(demo_db, "trace", "kids-tablet")
    second = trace[1]
    seen.page.locator(f"#seq-{second['seq']} a.then").click()
    seen.page.wait_for_url("**as_of=*")
    then = cli_json(demo_db, "status", "kids-tablet", "--as-of", second["at"])
    assert panel(seen.page) == (then["state"], then["actions"])

    # The slider, with the keyboard: Home is the first event.
    slider = seen.page.get_by_label("Or slide through its events")
    slider.focus()
    slider.press("Home")
    seen.page.wait_for_url(f"**as_of={quote(trace[0]['at'], safe='')}#moment")
    first = cli_json(demo_db, "status", "kids-tablet", "--as-of", trace[0]["at"])
    assert panel(seen.page) == (first["state"], first["actions"])
    assert seen.page.evaluate("document.activeElement.id") == "moment-slider"
    seen.assert_clean()


@pytest.mark.skipif(
    "evidence" not in TraceEntry.__struct_fields__,
    reason="the library's trace entries carry no evidence yet (the forensics engine adds it)",
)
def test_an_evidence_link_opens_the_right_event(browser: Any, inspector: Inspector, demo_db: Path) -> None:
    trace = cli_json(demo_db, "trace", "kids-tablet")
    [entry] = [e for e in trace if e.get("evidence")][:1]
    seen = watched(browser, inspector.url)
    seen.go("/devices/kids-tablet")
    target = entry["evidence"][0]
    seen.page.locator(f"#seq-{entry['seq']} .evidence a", has_text=f"#{target}").first.click()
    seen.page.wait_for_url(f"{inspector.url}/events/{target}")
    assert f"Event #{target}" in seen.page.locator("h1").inner_text()
    seen.assert_clean()


def test_choosing_two_moments_shows_what_diff_says_changed(
    browser: Any, inspector: Inspector, demo_db: Path
) -> None:
    trace = cli_json(demo_db, "trace", "kids-tablet")
    since, until = trace[1]["at"], trace[-1]["at"]
    expected = cli_json(demo_db, "diff", "kids-tablet", "--from", since, "--to", until)
    seen = watched(browser, inspector.url)
    seen.go("/devices/kids-tablet")
    seen.page.get_by_label("From (just after)").select_option(since)
    seen.page.get_by_label("To (just after)").select_option(until)
    seen.page.get_by_role("button", name="Compare").click()
    seen.page.wait_for_url(
        f"**/devices/kids-tablet?from={quote(since, safe='')}&to={quote(until, safe='')}#diff"
    )
    rows = seen.page.locator("#diff-changes tbody tr")
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.field)") == [
        change["field"] for change in expected["changes"]
    ]
    assert expected["changes"], "the demo's kids-tablet changes between these moments"
    for row, change in zip(rows.all(), expected["changes"], strict=True):
        if change["seq"] is not None:
            assert row.get_by_role("link", name=f"event #{change['seq']}").count() == 1
    seen.assert_clean()


def test_an_event_page_shows_the_stored_event_and_its_chain(browser: Any, inspector: Inspector) -> None:
    seen = watched(browser, inspector.url)
    seen.go("/devices/reception-pc")
    seen.page.get_by_role("link", name="#25", exact=True).click()
    seen.page.wait_for_url(f"{inspector.url}/events/25")
    text = seen.page.locator("main").inner_text()
    assert "Activate now clicked" in text and "checks out" in text
    assert seen.page.locator("#event-hash").inner_text() != seen.page.locator("#previous-hash").inner_text()
    seen.go("/events/1")
    assert "*****-*****-*****-3HOME" in seen.page.locator("main").inner_text()
    assert "HOMEB-UNDLE" not in seen.page.content()
    seen.assert_clean()


@pytest.mark.parametrize("path", ["/", "/devices/kids-tablet", "/events/26", "/devices?q=o"])
def test_pages_are_readable_at_390_pixels(browser: Any, inspector: Inspector, path: str) -> None:
    seen = watched(browser, inspector.url, width=390)
    seen.go(path)
    assert seen.page.evaluate("document.documentElement.scrollWidth") <= 390
    seen.page.keyboard.press("Tab")
    assert seen.page.evaluate("document.activeElement.textContent") == "Skip to the content"
    seen.assert_clean()


# --- /ui/ in the service --------------------------------------------------------------------


def test_signing_in_with_a_wrong_token_fails_and_with_an_auditor_token_works(
    browser: Any, service: tuple[Service, Tokens]
) -> None:
    running, tokens = service
    origin = running.url
    seen = watched(browser, origin)
    seen.go("/ui/devices/kids-tablet")
    assert urlsplit(seen.page.url).path == "/ui/sign-in"
    seen.page.get_by_label("Token").fill("llt_" + "n" * 43)
    seen.page.get_by_role("button", name="Sign in").click()
    assert seen.page.get_by_role("alert").inner_text() == "That token was not accepted."
    seen.errors = [e for e in seen.errors if "401" not in e]  # the refused form's own status
    seen.page.get_by_label("Token").fill(tokens.auditor)
    seen.page.get_by_role("button", name="Sign in").click()
    seen.page.wait_for_url(f"{origin}/ui/devices/kids-tablet")
    seen.page.get_by_role("link", name="license-ledger inspector").click()
    assert sorted(seen.page.locator("#device-list a").all_inner_texts()) == sorted(DEVICES)
    seen.page.get_by_role("button", name="Sign out").click()
    seen.page.wait_for_url(f"{origin}/ui/sign-in")
    seen.assert_clean()


def test_a_device_token_cannot_open_another_device(browser: Any, service: tuple[Service, Tokens]) -> None:
    running, tokens = service
    seen = watched(browser, running.url)
    seen.go("/ui/")
    seen.page.get_by_label("Token").fill(tokens.device)
    seen.page.get_by_role("button", name="Sign in").click()
    seen.page.wait_for_url(f"{running.url}/ui/devices/kids-tablet")
    answer = seen.go("/ui/devices/studio-pc")
    assert answer.status == 403
    assert "Not for this token" in seen.page.locator("h1").inner_text()
    assert "studio-pc" not in seen.page.locator("main").inner_text()
    seen.errors = [e for e in seen.errors if "403" not in e]  # the refused page's own status
    seen.assert_clean()

"""The API documentation page loads offline: the service serves it and every file it loads."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from live_service import Service, start_service


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("docs")
    running = start_service(folder / "shop.db", None, cli=("--insecure-no-auth", "--tick-every", "0"))
    yield running
    assert running.stop(), running.log_text()


def references(text: str) -> list[str]:
    """Every address an HTML page or a style sheet loads: src, href, url(...)."""
    found = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", text)
    found += re.findall(r"""url\(\s*["']?([^"')]+)""", text)
    return [ref for ref in found if not ref.startswith("data:")]


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
def test_the_page_and_every_file_it_loads_come_from_the_service(service: Service, page: str) -> None:
    with service.client() as client:
        html = client.get(page)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert "validatorUrl: null" in html.text
        seen: set[str] = set()
        todo = [urljoin(service.url + page, ref) for ref in references(html.text)]
        assert len(todo) >= 4  # the script, the preset, the style sheet, the icon
        while todo:
            url = todo.pop()
            if url in seen:
                continue
            seen.add(url)
            assert urlsplit(url).netloc == urlsplit(service.url).netloc, (
                f"{page} loads {url} from another host"
            )
            answer = client.get(url)
            assert answer.status_code == 200, url
            if answer.headers["content-type"].startswith("text/css"):
                todo += [urljoin(url, ref) for ref in references(answer.text)]


@pytest.mark.parametrize(
    "page", ["/schema/redoc", "/schema/elements", "/schema/rapidoc", "/schema/assets/index.html"]
)
def test_the_pages_that_load_from_cdns_are_gone(service: Service, page: str) -> None:
    with service.client() as client:
        assert client.get(page).status_code == 404


def test_serve_says_which_ledger_tokens_and_address(service: Service) -> None:
    db = Path(service.log.parent / "shop.db").resolve()
    said = (
        f"ledger {re.escape(str(db))} \\(0 events\\), tokens none \\(--insecure-no-auth\\), "
        f"listening on {re.escape(service.url)} with (1 worker|[0-9]+ workers) \\(API documentation at /schema\\)"
    )
    assert re.search(said, service.log_text()), service.log_text()

"""Schemathesis against the service's own OpenAPI document, for every role, over real HTTP.

For each operation and each role (a token of it), generated requests, valid
and invalid, go to a running service; every answer must not be a 500 and
must conform to the document: its status documented, its body of the
documented schema, its content type the documented one. The number of
examples is bounded so that the whole run stays under a minute on 2 cores.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from license_ledger.service.app import create_app
from license_ledger.service.tokens import ROLES, new_token
from live_service import Service, start_service

#: Examples per operation and role (11 operations x 5 roles).
EXAMPLES = 12
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass
class Api:
    service: Service
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    folder = tmp_path_factory.mktemp("schemathesis")
    tokens_path = folder / "tokens.json"
    # The device of the document's examples, so that they reach the library.
    tokens = {role: new_token(tokens_path, role) for role in ROLES if role != "device"}
    tokens["device"] = new_token(tokens_path, "device", device="laptop-1")
    service = start_service(folder / "ledger.db", tokens_path, tick_every=0, max_batch=20, max_body=64 * 1024)
    with service.client(tokens["admin"]) as admin:
        seeded = admin.post(
            "/events",
            json=[
                {"type": "CodeIssued", "code": "AAAAA-BBBBB-CCCCC-DDDDD", "kind": "commercial", "term_days": 365,
                 "max_devices": 2, "at": "2026-01-05T10:00:00Z"},
                {"type": "DeviceRegistered", "device": "laptop-1", "app_version": "22.1", "at": "2026-01-06T09:00:00Z"},
                {"type": "DeviceRegistered", "device": "laptop-2", "app_version": "22.1", "at": "2026-01-06T09:00:00Z"},
                {"type": "CodeEntered", "device": "laptop-2", "code": "AAAAA-BBBBB-CCCCC-DDDDD",
                 "at": "2026-01-06T09:01:00Z"},
            ],
        )  # fmt: skip
        assert seeded.status_code == 200, seeded.text
    try:
        yield Api(service, tokens)
    finally:
        assert service.stop(), service.log_text()


def _document() -> dict[str, Any]:
    """The app's OpenAPI document, as JSON (the app is built, not started: no file is opened)."""
    app = create_app(Path("never-opened.db"), None, tick_every=0, insecure_no_auth=True)
    loaded: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(app.openapi_schema.to_schema()))
    return loaded


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture(scope="module", params=ROLES)
def role(request: pytest.FixtureRequest, api: Api) -> str:
    """The role whose token every request carries (each operation runs once per role)."""
    with api.service.client() as anyone:
        assert anyone.get("/schema/openapi.json").json() == DOCUMENT  # the document it serves
    return str(request.param)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_every_answer_conforms_to_the_document(case: Any, api: Api, role: str) -> None:
    headers = {"Authorization": f"Bearer {api.tokens[role]}"}
    case.call_and_validate(base_url=api.service.url, headers=headers, checks=CHECKS)

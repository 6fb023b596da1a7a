"""The committed JSON Schemas in ``event_schemas/`` are the ones the Structs generate."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from license_ledger.engine.codec import decode_event, encode, seal
from license_ledger.engine.events import EVENT_TYPES

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gen_schemas.py"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_schemas", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_schemas = _load_script()


def test_the_committed_schemas_have_not_drifted() -> None:
    assert gen_schemas.drift() == [], "run: python scripts/gen_schemas.py"


def test_there_is_one_schema_per_event_type_and_one_for_the_union() -> None:
    assert sorted(gen_schemas.render()) == sorted(
        [f"{t.__name__}.json" for t in EVENT_TYPES] + ["event.json"]
    )


def test_drift_names_missing_changed_and_stray_files(tmp_path: Path) -> None:
    gen_schemas.write(tmp_path)
    assert gen_schemas.drift(tmp_path) == []
    (tmp_path / "CodeIssued.json").write_text("{}\n")
    (tmp_path / "LicenseRemoved.json").unlink()
    (tmp_path / "LicenseRenewed.json").write_text("{}\n")
    changes = [
        "CodeIssued.json (differs)",
        "LicenseRemoved.json (missing)",
        "LicenseRenewed.json (not generated)",
    ]
    assert gen_schemas.drift(tmp_path) == changes
    assert gen_schemas.write(tmp_path) == changes
    assert gen_schemas.drift(tmp_path) == []
    assert not (tmp_path / "LicenseRenewed.json").exists()


def test_check_exits_1_on_drift_and_0_otherwise(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(gen_schemas, "OUT", tmp_path)
    assert gen_schemas.main(["--check"]) == 1
    assert gen_schemas.main([]) == 0
    assert gen_schemas.main(["--check"]) == 0


def test_an_event_as_stored_fits_its_schema_fields() -> None:
    """The schema names exactly the fields an encoded event may carry."""
    schema = json.loads(gen_schemas.render()["CodeIssued.json"])
    fields = set(schema["$defs"]["CodeIssued"]["properties"])
    line = '{"type": "CodeIssued", "code": "AAAAA-BBBBB-CCCCC-00001", "kind": "trial", "term_days": 1, "max_devices": 1}'
    stored = json.loads(encode(seal(decode_event(line))))
    assert set(stored) <= fields
    assert set(schema["$defs"]["CodeIssued"]["required"]) <= set(stored)

"""docs/rules.md says what the code does: its generated parts are current, its example runs."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

from license_ledger.engine.checks import GUARDS
from license_ledger.engine.diagram import mermaid
from license_ledger.engine.effects import EFFECTS

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "rules.md"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_rules_doc", ROOT / "scripts" / "gen_rules_doc.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_rules_doc = _load_script()


def fenced(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", DOC.read_text(), re.S | re.M)


def test_the_diagram_is_the_one_drawn_from_the_rules() -> None:
    (diagram,) = fenced("mermaid")
    assert diagram == mermaid().rstrip("\n") + "\n"


def test_the_generated_parts_are_current() -> None:
    text = DOC.read_text()
    assert gen_rules_doc.render(text) == text, "run: python scripts/gen_rules_doc.py"
    assert gen_rules_doc.blocks(text)["table"] == gen_rules_doc.rules_table()


def test_the_example_runs() -> None:
    (example,) = fenced("python")
    exec(compile(example, str(DOC), "exec"), {})


def test_every_guard_and_effect_is_explained_by_hand() -> None:
    """Beyond the generated table: the reasons table, the effects table or the prose."""
    written = re.sub(
        r"<!-- generated: (\w+) -->.*?<!-- end generated: \1 -->", "", DOC.read_text(), flags=re.S
    )
    unexplained = [name for name in [*GUARDS, *EFFECTS] if f"`{name}`" not in written]
    assert unexplained == []

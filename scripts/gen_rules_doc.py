"""Render the generated parts of ``docs/rules.md``; ``--check`` fails when they drifted.

Two blocks of the page are drawn from :data:`license_ledger.engine.rules.RULES`,
the one definition of the rules: the Mermaid diagram
(:func:`~license_ledger.engine.diagram.mermaid`) and the table of rules. Each sits
between ``<!-- generated: NAME -->`` and ``<!-- end generated: NAME -->``;
the rest of the page is written by hand.

Usage: python scripts/gen_rules_doc.py [--check]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from license_ledger.engine.diagram import mermaid
from license_ledger.engine.rules import FAILED_CHECK, LICENSED, RULES, STATES

DOC = Path(__file__).resolve().parents[1] / "docs" / "rules.md"

#: The event that fires each trigger.
EVENT_OF = {
    "enter_code": "CodeEntered",
    "expire": "LicenseExpired",
    "remove": "LicenseRemoved",
    "try_again": "TryAgainClicked",
    "activate_now": "ActivateNowClicked",
    "block": "CodeBlocked, per active holder",
}
assert set(EVENT_OF) == {rule["trigger"] for rule in RULES}, "every trigger needs its event here"

_BLOCK = re.compile(
    r"(<!-- generated: (?P<name>[a-z]+) -->\n)(?P<body>.*?)(<!-- end generated: (?P=name) -->)", re.S
)


def _sources(source: str | list[str]) -> str:
    if source == STATES:
        return "any"
    if source == LICENSED:
        return "any with a license (" + ", ".join(LICENSED) + ")"
    return ", ".join(source) if isinstance(source, list) else source


def _cell(items: list[str]) -> str:
    return " → ".join(f"`{item}`" for item in items) if items else "—"


def _row(number: int, rule: dict[str, Any]) -> str:
    reason = rule["reason"]
    cells = [
        str(number),
        f"`{rule['trigger']}` ({EVENT_OF[rule['trigger']]})",
        _sources(rule["source"]),
        _cell(rule["conditions"]),
        "(stays)" if rule["dest"] == "=" else rule["dest"],
        f"`{rule['result']}`",
        "the failed check's" if reason is FAILED_CHECK else (f"`{reason}`" if reason else "—"),
        _cell(rule["after"]),
    ]
    return "| " + " | ".join(cells) + " |"


def rules_table() -> str:
    """The rules as a Markdown table, in the order they are tried."""
    header = [
        "| # | trigger (event) | from | conditions, in order | to | result | reason | effect |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    return "\n".join(header + [_row(n, rule) for n, rule in enumerate(RULES, start=1)]) + "\n"


def diagram() -> str:
    return "```mermaid\n" + mermaid().rstrip("\n") + "\n```\n"


GENERATED = {"diagram": diagram, "table": rules_table}


def render(text: str) -> str:
    """The page with every generated block drawn afresh."""
    found = {m["name"] for m in _BLOCK.finditer(text)}
    if found != set(GENERATED):
        raise ValueError(
            f"docs/rules.md must have the generated blocks {sorted(GENERATED)}, found {sorted(found)}"
        )
    return _BLOCK.sub(lambda m: m[1] + GENERATED[m["name"]]() + m[4], text)


def blocks(text: str) -> dict[str, str]:
    """The body of each generated block of a page, by name."""
    return {m["name"]: m["body"] for m in _BLOCK.finditer(text)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/rules.md is not up to date")
    args = parser.parse_args(argv)
    text = DOC.read_text()
    fresh = render(text)
    if args.check:
        if fresh != text:
            print(
                "docs/rules.md drifted from the rules: run python scripts/gen_rules_doc.py", file=sys.stderr
            )
            return 1
        return 0
    DOC.write_text(fresh)
    print("docs/rules.md: " + ("updated." if fresh != text else "up to date."))
    return 0


if __name__ == "__main__":
    sys.exit(main())

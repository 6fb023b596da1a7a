"""The state machine as a Mermaid state diagram, drawn from :data:`~license_ledger.engine.rules.RULES`.

One arrow per pair of states, labelled with the triggers that take it and
the numbers of their rules (the rules' order, as in the table of
``docs/rules.md``). The checks of each rule would make labels hundreds of
characters long, so they are a numbered legend instead: Mermaid comments
under the diagram (``%%``), and the table in the docs. States are coloured
as the command line colours them.
"""

from __future__ import annotations

from typing import Any

from .rules import FAILED_CHECK, RULES, STATES

__all__ = ["TITLE", "legend", "mermaid"]

TITLE = "license-ledger: the license states of a device"

#: The colour class of each state, named for what it colours.
_COLOURS = {
    "unlicensed": ("unlicensed_grey", "fill:#eeeeee,color:black"),
    "active": ("active_green", "fill:#c8f0c8,color:black"),
    "expired": ("expired_yellow", "fill:#fff1b8,color:black"),
    "blocked": ("blocked_red", "fill:#f6c4c4,color:black"),
}


def _sources(rule: dict[str, Any]) -> list[str]:
    source = rule["source"]
    return list(source) if isinstance(source, list) else [source]


def legend() -> list[str]:
    """One line per rule: its number, trigger, states, checks in order, and result."""
    lines = []
    for number, rule in enumerate(RULES, start=1):
        checks = " > ".join(rule["conditions"]) or "no checks"
        reason = rule["reason"]
        why = (
            ""
            if reason is None
            else " (the failed check's reason)"
            if reason == FAILED_CHECK
            else f" ({reason})"
        )
        lines.append(
            f"{number}. {rule['trigger']} from {', '.join(_sources(rule))}: {checks} => {rule['result']}{why}"
        )
    return lines


def mermaid() -> str:
    """The diagram, with the legend of the rules as Mermaid comments under it."""
    edges: dict[tuple[str, str], dict[str, list[int]]] = {}
    for number, rule in enumerate(RULES, start=1):
        for source in _sources(rule):
            dest = source if rule["dest"] == "=" else rule["dest"]
            edges.setdefault((source, dest), {}).setdefault(rule["trigger"], []).append(number)
    lines = ["---", f'title: "{TITLE}"', "---", "stateDiagram-v2", "  direction LR"]
    lines += [f"  classDef {name} {style}" for name, style in _COLOURS.values()]
    for state in STATES:
        lines.append(f'  state "{state}" as {state}')
        lines.append(f"  class {state} {_COLOURS[state][0]}")
    lines.append(f"  [*] --> {STATES[0]}")
    for source in STATES:
        for (start, dest), triggers in edges.items():
            if start != source:
                continue
            label = ", ".join(
                f"{trigger} ({', '.join(map(str, numbers))})" for trigger, numbers in triggers.items()
            )
            lines.append(f"  {source} --> {dest}: {label}")
    lines.append("  %% The rules, by number: tried in this order, the first whose checks all pass is taken.")
    lines += [f"  %% {line}" for line in legend()]
    return "\n".join(lines) + "\n"

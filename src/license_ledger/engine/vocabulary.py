"""The words the engine answers with: every result, reason, state, action and kind.

Derived from where each is stated (the rules table, the guards' declared
reasons, the event Structs), so that the API document and the docs list
exactly what the engine can say.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from typing import Annotated, Any

from .checks import REASON_OF
from .events import EVENT_TYPES, CodeIssued
from .rules import FAILED_CHECK, RULES, STATES
from .views import ACTIONS, BACKUP_STATES
from .world import RECORDED

__all__ = ["ACTIONS", "BACKUP_STATES", "EVENT_NAMES", "KINDS", "REASONS", "RESULTS", "STATES"]


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _sources(rule: dict[str, Any]) -> set[str]:
    source = rule["source"]
    return {source} if isinstance(source, str) else set(source)


def _reasons() -> list[str]:
    """Every reason a result can carry.

    A rule names its reason, or reports the failed check's: then the
    reasons are those of the guards of the rules tried before it (same
    trigger and state) that it does not itself require to pass.
    """
    found: list[str] = []
    for index, rule in enumerate(RULES):
        reason = rule["reason"]
        if reason is None:
            continue
        if reason != FAILED_CHECK:
            found.append(reason)
            continue
        own = set(rule["conditions"])
        for earlier in RULES[:index]:
            if earlier["trigger"] == rule["trigger"] and _sources(earlier) & _sources(rule):
                found.extend(REASON_OF[guard] for guard in earlier["conditions"] if guard not in own)
    return _unique(found)


def _literal(struct: type, field: str) -> list[str]:
    hint = typing.get_type_hints(struct, include_extras=True)[field]
    while typing.get_origin(hint) is Annotated:
        hint = typing.get_args(hint)[0]
    return list(typing.get_args(hint))


EVENT_NAMES = [t.__name__ for t in EVENT_TYPES]
#: Every result: those of the rules, and ``recorded`` (an event no rule judges).
RESULTS = _unique([RECORDED.result, *(rule["result"] for rule in RULES)])
REASONS = _reasons()
KINDS = _literal(CodeIssued, "kind")

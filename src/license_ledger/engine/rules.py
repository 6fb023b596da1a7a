"""The rules of a device's license, in one table.

This module is the one place where the rules live. :data:`RULES` is a
``transitions`` definition: for each trigger and state, an ordered list of
transitions; the first whose conditions (the guards of
:mod:`license_ledger.engine.checks`, run in the listed order) all pass is taken,
its effect (:mod:`license_ledger.engine.effects`) applied and its result reported.
When a guard fails, the rule after it usually reports that failure as the
reason (``reason=FAILED_CHECK``).

Replay does not dispatch through ``transitions`` (one ``Machine`` dispatch
costs ~60 times a dict look-up); :func:`compile_table` turns the very same
``Machine`` into a plain ``{state: {trigger: branches}}`` table. The diagram
in the docs is drawn from the same definition (:mod:`license_ledger.engine.diagram`).

What happens on LicenseExpired with a backup? Read the ``expire`` rules.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Sequence
from typing import Any

from transitions import Machine, Transition
from transitions.extensions import GraphMachine
from transitions.extensions.diagrams import TransitionGraphSupport

from .checks import GUARDS
from .effects import EFFECTS
from .evidence import WITNESSES
from .views import Outcome

__all__ = [
    "FAILED_CHECK",
    "RULES",
    "STATES",
    "TABLE",
    "Branch",
    "build_machine",
    "compile_table",
]

STATES = ["unlicensed", "active", "expired", "blocked"]
#: States in which the device has a license (shown, removable).
LICENSED = ["active", "expired", "blocked"]

#: A rule whose reason is the reason of the check that just failed.
FAILED_CHECK = "<the failed check>"

# The checks, in the order docs/spec.md gives them. -------------------------

#: "Enter activation code" on an active device (the renewal case), checks 1-8.
RENEWAL_ENTRY = [
    "code_well_formed",  # invalid_format
    "code_issued",  # unknown_code
    "not_the_current_code",  # already_active
    "no_backup_yet",  # backup_already_added
    "current_not_subscription",  # subscription_in_use
    "code_not_trial",  # trial_not_allowed
    "code_not_blocked",  # code_blocked
    "code_extends_license",  # does_not_extend
]
#: "Enter activation code" on a blocked device: checks 1-4, 6, 7.
BLOCKED_ENTRY = [
    "code_well_formed",
    "code_issued",
    "not_the_current_code",
    "no_backup_yet",
    "code_not_trial",
    "code_not_blocked",
]
#: "Enter activation code" on an unlicensed or expired device: checks 1-2,
#: then the code is activated at once.
FIRST_ENTRY = ["code_well_formed", "code_issued"]
#: Activation of a code on a device.
ACTIVATION = [
    "code_not_blocked",  # code_blocked
    "code_not_expired",  # code_expired
    "version_compatible",  # incompatible_version
    "seat_available",  # device_limit_reached
    "console_reachable",  # console_unreachable
]


def rule(
    trigger: str,
    source: str | list[str],
    dest: str,
    conditions: Sequence[str],
    result: str,
    effect: str | None = None,
    reason: str | None = None,
    evidence: str | None = None,
) -> dict[str, Any]:
    """One transition of the table ("=" as dest: stay in the source state).

    ``evidence`` names a witness of :mod:`~license_ledger.engine.evidence`:
    what the result rests on beside the failed check.
    """
    return {
        "trigger": trigger,
        "source": source,
        "dest": dest,
        "conditions": list(conditions),
        "after": [effect] if effect else [],
        "result": result,
        "reason": reason,
        "evidence": evidence,
    }


#: Renewals rest on the event that added the backup.
BACKUP = "backup_added"


ALL = STATES

# The triggers, and the candidate code their guards and effects look at:
# ``enter_code`` (CodeEntered) the entered code; ``block`` (CodeBlocked, once
# per active holder) the blocked code; ``expire`` (LicenseExpired), ``remove``
# (LicenseRemoved), ``try_again`` (TryAgainClicked) and ``activate_now``
# (ActivateNowClicked) the device's backup.
RULES: list[dict[str, Any]] = [
    # Enter activation code → Save ------------------------------------------
    rule("enter_code", "active", "=", RENEWAL_ENTRY, "backup_added", "add_backup"),
    rule("enter_code", "active", "=", [], "rejected", reason=FAILED_CHECK),
    rule("enter_code", "blocked", "=", BLOCKED_ENTRY, "backup_added", "add_backup"),
    rule("enter_code", "blocked", "=", [], "rejected", reason=FAILED_CHECK),
    rule(
        "enter_code",
        ["unlicensed", "expired"],
        "active",
        FIRST_ENTRY + ACTIVATION,
        "activated",
        "activate_candidate",
    ),
    rule("enter_code", ["unlicensed", "expired"], "=", [], "rejected", reason=FAILED_CHECK),
    # The license expires (a tick appended LicenseExpired) -------------------
    rule(
        "expire",
        "active",
        "active",
        ["has_backup", *ACTIVATION],
        "renewed",
        "activate_candidate",
        evidence=BACKUP,
    ),
    rule(
        "expire",
        "active",
        "expired",
        ["has_backup"],
        "renewal_failed",
        "end_license_backup_failed",
        reason=FAILED_CHECK,
        evidence=BACKUP,
    ),
    rule("expire", "active", "expired", [], "expired", "end_license"),
    # Remove license ----------------------------------------------------------
    rule(
        "remove",
        LICENSED,
        "active",
        ["has_backup", *ACTIVATION],
        "renewed",
        "activate_candidate",
        evidence=BACKUP,
    ),
    rule(
        "remove",
        LICENSED,
        "unlicensed",
        ["has_backup"],
        "renewal_failed",
        "remove_license_backup_failed",
        reason=FAILED_CHECK,
        evidence=BACKUP,
    ),
    rule("remove", LICENSED, "unlicensed", [], "removed", "remove_license"),
    rule("remove", "unlicensed", "=", [], "ignored", reason="no_license"),
    # Try again: a failed backup, and the license is not blocked ------------
    rule(
        "try_again",
        ["unlicensed", "active", "expired"],
        "active",
        ["backup_failed", *ACTIVATION],
        "renewed",
        "activate_candidate",
        evidence=BACKUP,
    ),
    rule(
        "try_again",
        ["unlicensed", "active", "expired"],
        "=",
        ["backup_failed"],
        "renewal_failed",
        "backup_failed_again",
        reason=FAILED_CHECK,
        evidence=BACKUP,
    ),
    rule("try_again", ALL, "=", [], "ignored", reason="action_not_available"),
    # Activate now: the license is blocked and a backup is present ----------
    rule(
        "activate_now",
        "blocked",
        "active",
        ["has_backup", *ACTIVATION],
        "renewed",
        "activate_candidate",
        evidence=BACKUP,
    ),
    rule(
        "activate_now",
        "blocked",
        "=",
        ["has_backup"],
        "renewal_failed",
        "backup_failed_again",
        reason=FAILED_CHECK,
        evidence=BACKUP,
    ),
    rule("activate_now", ALL, "=", [], "ignored", reason="action_not_available"),
    # The vendor blocked the code of an active license ----------------------
    rule("block", "active", "blocked", [], "blocked"),
]


class RuleTransition(Transition):
    """A transition that also carries the result and reason it reports."""

    def __init__(
        self,
        *args: Any,
        result: str,
        reason: str | None = None,
        evidence: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.result = result
        self.reason = reason
        self.evidence = evidence


class RulesMachine(Machine):
    transition_cls = RuleTransition


class _GraphTransition(RuleTransition, TransitionGraphSupport):
    pass


class RulesGraphMachine(GraphMachine):
    transition_cls = _GraphTransition


def build_machine(model: Any = None, *, graph: bool = False) -> Machine:
    """The rules as a ``transitions`` Machine (for a reference model, or a diagram)."""
    cls = RulesGraphMachine if graph else RulesMachine
    options: dict[str, Any] = {"graph_engine": "mermaid", "show_conditions": True} if graph else {}
    return cls(
        model=model,
        states=STATES,
        transitions=RULES,
        initial="unlicensed",
        auto_transitions=False,
        send_event=True,
        **options,
    )


#: One way out of a (state, trigger): guards, destination, result, effect,
#: the Outcome to report (shared while it has no evidence; None when the
#: reason is the failed check's, which replay fills in), and the witness
#: that finds the evidence (None: the failed check's, if any).
Branch = tuple[
    tuple[Callable[..., Any], ...],
    str,
    str,
    Callable[..., Any] | None,
    Outcome | None,
    Callable[..., tuple[int, ...]] | None,
]


def compile_table(machine: Machine) -> dict[str, dict[str, tuple[Branch, ...]]]:
    """Turn the Machine's transitions into a dict table of plain functions."""
    table: dict[str, dict[str, tuple[Branch, ...]]] = {state: {} for state in STATES}
    for trigger, event in machine.events.items():
        for source, transitions in event.transitions.items():
            branches: list[Branch] = []
            for t in typing.cast(list[RuleTransition], transitions):
                if any(not c.target for c in t.conditions):
                    raise ValueError(f"{trigger} from {source}: write rules with conditions, not unless")
                guards = tuple(GUARDS[str(c.func)] for c in t.conditions)
                effect = EFFECTS[str(t.after[0])] if t.after else None
                witness = WITNESSES[t.evidence] if t.evidence else None
                shared = None if t.reason == FAILED_CHECK else Outcome(t.result, t.reason)
                branches.append((guards, str(t.dest), t.result, effect, shared, witness))
            if branches[-1][0]:
                raise ValueError(f"{trigger} from {source}: the last rule must have no conditions")
            table[source][trigger] = tuple(branches)
    return table


TABLE = compile_table(build_machine())

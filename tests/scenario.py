"""A tiny scenario builder for rule tests: events as dicts, one line each.

Every event goes the way a store sends it: decoded strictly, sealed, stamped
with the scenario's clock, checked by the world, then applied. The clock
only moves when a test says so (``later``), so times in assertions are exact.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import msgspec

from license_ledger.engine.codec import event_from_object, seal, stamp
from license_ledger.engine.events import Event
from license_ledger.engine.moments import parse_moment
from license_ledger.engine.queries import due_expiries, status
from license_ledger.engine.snapshot import dump, load, same_state
from license_ledger.engine.views import DeviceStatus, Outcome
from license_ledger.engine.world import World
from license_ledger.errors import InputRefused

START = "2025-01-01T00:00:00Z"


def t(text: str) -> datetime:
    """A time written as RFC 3339 text."""
    return parse_moment(text, field="at")


class Scenario:
    """A world fed one event at a time, and the log it stored."""

    def __init__(self, start: str = START) -> None:
        self.world = World()
        self.now = t(start)
        self.log: list[Event] = []
        #: The evidence of each event's result, by seq.
        self.evidence: dict[int, tuple[int, ...]] = {}

    # --- the clock ---------------------------------------------------------

    def later(self, *, days: float = 0, hours: float = 0, seconds: float = 0) -> datetime:
        """Move the clock forward; return the new time."""
        self.now += timedelta(days=days, hours=hours, seconds=seconds)
        return self.now

    def until_expiry(self, device: str) -> datetime:
        """Move the clock to the moment the device's license expires."""
        status = self.status(device)
        assert status.license is not None
        self.now = status.license.expires_at
        return self.now

    # --- sending events ----------------------------------------------------

    def send(self, event: dict[str, Any] | Event) -> Outcome:
        """Decode, seal, stamp, check and apply one event; return its result.

        The result comes without its evidence, which ``self.evidence`` keeps
        (by seq): the rule tests assert results, tests/test_evidence.py the
        evidence.
        """
        sealed = stamp(seal(event_from_object(event)), self.now)
        self.world.check(sealed)
        outcome = self.world.apply(sealed)
        self.log.append(sealed)
        self.evidence[self.world.count] = outcome.evidence
        return msgspec.structs.replace(outcome, evidence=())

    @property
    def seq(self) -> int:
        """The seq of the last event sent."""
        return self.world.count

    def refused(self, event: dict[str, Any]) -> str:
        """Send an event that must be refused; return the refusal's message.

        Also asserts that the refusal left the world and the log as they were.
        """
        before = load(dump(self.world))
        stored = len(self.log)
        try:
            self.send(event)
        except InputRefused as refusal:
            assert same_state(self.world, before)
            assert len(self.log) == stored
            return str(refusal)
        raise AssertionError(f"not refused: {event}")

    # --- the events, by name -----------------------------------------------

    def issue(
        self,
        code: str,
        *,
        kind: str = "commercial",
        term_days: int = 365,
        max_devices: int = 1,
        **fields: Any,
    ) -> Outcome:
        return self.send(
            {
                "type": "CodeIssued",
                "code": code,
                "kind": kind,
                "term_days": term_days,
                "max_devices": max_devices,
                **fields,
            }
        )

    def block(self, code: str, reason: str | None = None) -> Outcome:
        return self.send({"type": "CodeBlocked", "code": code, "reason": reason})

    def register(self, device: str, app_version: str = "21.3") -> Outcome:
        return self.send({"type": "DeviceRegistered", "device": device, "app_version": app_version})

    def update_app(self, device: str, app_version: str) -> Outcome:
        return self.send({"type": "AppUpdated", "device": device, "app_version": app_version})

    def connect(self, device: str, connected: bool) -> Outcome:
        return self.send({"type": "ConsoleConnectionChanged", "device": device, "connected": connected})

    def enter(self, device: str, code: str) -> Outcome:
        return self.send({"type": "CodeEntered", "device": device, "code": code})

    def expire(self, device: str) -> Outcome:
        return self.send({"type": "LicenseExpired", "device": device})

    def remove(self, device: str) -> Outcome:
        return self.send({"type": "LicenseRemoved", "device": device})

    def try_again(self, device: str) -> Outcome:
        return self.send({"type": "TryAgainClicked", "device": device})

    def activate_now(self, device: str) -> Outcome:
        return self.send({"type": "ActivateNowClicked", "device": device})

    def tick(self) -> dict[str, Outcome]:
        """Append the LicenseExpired events that are due now, as a tick does."""
        return {event.device: self.send(event) for event in due_expiries(self.world, self.now)}

    # --- asking --------------------------------------------------------------

    def status(self, device: str, as_of: datetime | None = None) -> DeviceStatus:
        return status(self.world, device, self.now if as_of is None else as_of)

    def state(self, device: str) -> str:
        return self.status(device).state

    def seats(self, code_tail: str) -> int:
        """Seats held of the code whose display tail is ``code_tail``."""
        (held,) = [len(c.holders) for c in self.world.codes.values() if c.ref.tail == code_tail]
        return held

"""A realistic, deterministic license log for benchmarks (and a JSON-lines dump).

Devices live through what the help page describes: they register, activate a
code (some share a family code, some find its seats taken), mistype codes,
add a backup that renews them at expiry (or fails: seats, versions), update
the application and Try again, remove licenses; the vendor blocks a few
codes. The engine itself decides every result: the generator applies each
event to a World, and plans the next steps of each device from its state,
so that every event it emits is accepted by a store.

    python scripts/workload.py --events 10000 > log.jsonl
"""

from __future__ import annotations

import argparse
import heapq
import random
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from license_ledger.engine.codec import encode, seal  # noqa: E402
from license_ledger.engine.events import (  # noqa: E402
    ActivateNowClicked,
    AnyEvent,
    AppUpdated,
    CodeBlocked,
    CodeEntered,
    CodeIssued,
    ConsoleConnectionChanged,
    DeviceRegistered,
    LicenseExpired,
    LicenseRemoved,
    TryAgainClicked,
)
from license_ledger.engine.views import Outcome  # noqa: E402
from license_ledger.engine.world import World  # noqa: E402

START = datetime(2024, 1, 1, tzinfo=UTC)
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class Workload:
    """Plans per-device stories on one timeline and emits them in time order."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.world = World()
        self.plan: list[tuple[datetime, int, str, str]] = []  # (at, tie, device, step)
        self.tie = 0
        self.devices = 0
        self.family: tuple[str, int] | None = None  # (raw code, seats left to hand out)

    # --- codes ---------------------------------------------------------------

    def new_code(self) -> str:
        chars = "".join(self.rng.choice(_ALPHABET) for _ in range(20))
        return "-".join(chars[i : i + 5] for i in range(0, 20, 5))

    def issue(
        self, at: datetime, *, kind: str = "commercial", devices: int = 1, days: int = 365
    ) -> tuple[str, AnyEvent]:
        code = self.new_code()
        spec = self.rng.choice(["", "", "", ">=21.0", ">=22.0,<25"])
        event = CodeIssued(
            code=code,
            kind=kind,  # type: ignore[arg-type]
            term_days=days,
            max_devices=devices,
            compatible_versions=spec,
            requires_console=self.rng.random() < 0.05,
            at=at,
        )
        return code, event

    # --- planning ------------------------------------------------------------

    def later(self, at: datetime, device: str, step: str, hours: float) -> None:
        self.tie += 1
        when = at + timedelta(hours=max(0.0, hours) * (0.5 + self.rng.random()))
        heapq.heappush(self.plan, (when, self.tie, device, step))

    def events(self, total: int) -> Iterator[AnyEvent]:
        """Yield ``total`` sealed, stamped, accepted events in time order."""
        emitted = 0
        clock = START
        # About eight events a device; devices arrive evenly over three years.
        arrival = timedelta(days=3 * 365) / max(1, total // 8)
        heapq.heappush(self.plan, (START, 0, "", "arrive"))
        while emitted < total:
            at, _, device, step = heapq.heappop(self.plan)
            clock = max(clock, at)
            if step == "arrive":
                self.devices += 1
                self.later(clock, f"dev-{self.devices:07d}", "register", 0)
                self.tie += 1
                heapq.heappush(self.plan, (clock + arrival, self.tie, "", "arrive"))
                continue
            for event in self.step(clock, device, step):
                sealed = seal(event)
                self.world.check(sealed)
                outcome = self.world.apply(sealed)
                self.follow_up(clock, sealed, outcome)
                yield sealed
                emitted += 1
                if emitted >= total:
                    return

    def step(self, at: datetime, device: str, step: str) -> list[AnyEvent]:
        rng = self.rng
        record = self.world.devices.get(device)
        if step == "register":
            return [DeviceRegistered(device=device, app_version=rng.choice(["21.4", "22.1", "23.0"]), at=at)]
        assert record is not None
        if step == "activate":
            events: list[AnyEvent] = []
            if rng.random() < 0.05:  # a typo first
                events.append(CodeEntered(device=device, code="NOT-A-REAL-CODE", at=at))
            if self.family is None or self.family[1] == 0:
                seats = rng.choice([1, 1, 3, 5])
                code, issued = self.issue(at, devices=seats)
                events.append(issued)
                # Now and then more devices try a family code than it has seats.
                self.family = (code, seats + (rng.random() < 0.1))
            code, left = self.family
            self.family = (code, left - 1)
            events.append(CodeEntered(device=device, code=code, at=at))
            return events
        if step == "backup":
            kind = "trial" if rng.random() < 0.03 else "commercial"
            code, issued = self.issue(at, kind=kind)
            return [issued, CodeEntered(device=device, code=code, at=at)]
        if step == "expire":
            code = self.world.codes.get(record.license or "")
            if (
                record.state == "active"
                and code is not None
                and code.expires_at is not None
                and code.expires_at <= at
            ):
                return [LicenseExpired(device=device, at=at)]
            return []
        if step == "update":
            return [
                AppUpdated(device=device, app_version="24.0", at=at),
                TryAgainClicked(device=device, at=at),
            ]
        if step == "console":
            return [ConsoleConnectionChanged(device=device, connected=not record.connected, at=at)]
        if step == "remove":
            return [LicenseRemoved(device=device, at=at)]
        if step == "activate_now":
            return [ActivateNowClicked(device=device, at=at)]
        if step == "block" and record.license is not None:
            blocked = self.world.codes[record.license]
            return [CodeBlocked(code=blocked.ref, reason="chargeback", at=at)]
        return []

    def follow_up(self, at: datetime, event: AnyEvent, outcome: Outcome) -> None:
        rng = self.rng
        if isinstance(event, CodeBlocked):
            for device in outcome.detail["blocked_devices"]:  # type: ignore[index, union-attr]
                has_backup = self.world.devices[device].backup is not None
                if has_backup or rng.random() < 0.5:
                    self.later(at, device, "activate_now" if has_backup else "backup", 12)
            return
        device = getattr(event, "device", None)
        if device is None:
            return
        record = self.world.devices[device]
        result = outcome.result
        if isinstance(event, DeviceRegistered):
            self.later(at, device, "activate", 24)
        elif result in {"activated", "renewed"}:
            code = self.world.codes[record.license]  # type: ignore[index]
            assert code.expires_at is not None
            hours = (code.expires_at - at).total_seconds() / 3600
            self.later(code.expires_at, device, "expire", 0.01)
            roll = rng.random()
            if roll < 0.6:
                self.later(at, device, "backup", hours * 0.8)
            elif roll < 0.65:
                self.later(at, device, "remove", hours * 0.5)
            elif roll < 0.67:
                self.later(at, device, "block", hours * 0.3)
            elif roll < 0.72:
                self.later(at, device, "console", hours * 0.5)
        elif result == "backup_added" and record.state == "blocked":
            self.later(at, device, "activate_now", 6)
        elif result == "renewal_failed" and record.state != "blocked" and rng.random() < 0.7:
            self.later(at, device, "update", 30)
        elif (
            result == "rejected"
            and isinstance(event, CodeEntered)
            and record.state == "unlicensed"
            and outcome.reason in {"device_limit_reached", "incompatible_version"}
        ):
            self.later(at, device, "activate", 48)  # seats taken or wrong version: another code later


def generate(total: int, seed: int = 7) -> list[AnyEvent]:
    """``total`` accepted events (sealed, stamped), always the same for a seed."""
    return list(Workload(seed).events(total))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    out = sys.stdout.buffer
    for event in Workload(args.seed).events(args.events):
        out.write(encode(event) + b"\n")


if __name__ == "__main__":
    main()

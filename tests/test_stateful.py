"""The whole stack as a state machine (hypothesis ``RuleBasedStateMachine``).

Each rule does what a user, the vendor or the clock does, through a real
``Ledger`` on a real SQLite file; some draws are refused on purpose. After
every step the invariants compare the store's projection with a fresh
in-memory replay of its own export, and check the seats. At the end the file
verifies, and an export appended to a fresh store gives the same log.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from license_ledger import InputRefused, Ledger, UnknownDevice
from license_ledger.engine.codec import decode_event
from license_ledger.engine.queries import seats, status
from license_ledger.engine.replay import replay

CODES = [f"STATE-FULLT-ESTCO-DE{n:03d}" for n in range(5)]
DEVICES = [f"box-{n}" for n in range(4)]
START = datetime.fromisoformat("2026-01-01T00:00:00+00:00")


class LedgerMachine(RuleBasedStateMachine):
    """A random life of a few devices and codes, through the real store."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="license-ledger-stateful-"))
        self.ledger = Ledger.open(self.folder / "ledger.db", clock=lambda: self.now)
        self.now = START
        self.issued: set[str] = set()
        self.registered: set[str] = set()
        self.reported: list[tuple[int, str, str | None]] = []

    def append(self, *events: dict[str, Any]) -> None:
        try:
            appended = self.ledger.append(list(events))
        except InputRefused:
            return  # refused input stores nothing: the invariants check that
        self.reported += [(a.seq, a.result, a.reason) for a in appended if a.stored]

    @initialize()
    def open_shop(self) -> None:
        self.append({"type": "DeviceRegistered", "device": DEVICES[0], "app_version": "22.0"})
        self.registered.add(DEVICES[0])

    @rule(hours=st.sampled_from([0, 1, 24, 24 * 20, 24 * 200]))
    def time_passes(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    @rule(
        code=st.sampled_from(CODES),
        kind=st.sampled_from(["commercial", "commercial", "trial", "subscription"]),
        days=st.sampled_from([1, 30, 365]),
        seats=st.integers(1, 3),
        spec=st.sampled_from(["", "", "", ">=22", "<22"]),
    )
    def vendor_issues(self, code: str, kind: str, days: int, seats: int, spec: str) -> None:
        self.append(
            {
                "type": "CodeIssued",
                "code": code,
                "kind": kind,
                "term_days": days,
                "max_devices": seats,
                "compatible_versions": spec,
            }
        )
        self.issued.add(code)

    @precondition(lambda self: self.issued)
    @rule(data=st.data(), often=st.integers(0, 3))
    def vendor_blocks(self, data: st.DataObject, often: int) -> None:
        if often == 0:  # blocks are rare: a blocked code ends most stories
            self.append({"type": "CodeBlocked", "code": data.draw(st.sampled_from(sorted(self.issued)))})

    @rule(device=st.sampled_from(DEVICES), version=st.sampled_from(["21.0", "22.0", "23.1", "23.1"]))
    def device_registers_or_updates(self, device: str, version: str) -> None:
        kind = "AppUpdated" if device in self.registered else "DeviceRegistered"
        self.append({"type": kind, "device": device, "app_version": version})
        self.registered.add(device)

    @precondition(lambda self: self.issued)
    @rule(data=st.data(), typo=st.integers(0, 9))
    def user_enters_a_code(self, data: st.DataObject, typo: int) -> None:
        device = data.draw(st.sampled_from(sorted(self.registered)))
        code = data.draw(st.sampled_from(sorted(self.issued)))
        if typo == 0:
            code = data.draw(st.sampled_from(["TYPO", "NOTIS-SUEDC-ODE00-00000", code.lower()]))
        self.append({"type": "CodeEntered", "device": device, "code": code})

    @precondition(lambda self: len(self.registered) < len(DEVICES))
    @rule(data=st.data())
    def someone_enters_a_code_on_an_unknown_device(self, data: st.DataObject) -> None:
        device = data.draw(st.sampled_from(sorted(set(DEVICES) - self.registered)))
        self.append({"type": "CodeEntered", "device": device, "code": CODES[0]})  # refused

    @rule(
        data=st.data(),
        action=st.sampled_from(["TryAgainClicked", "ActivateNowClicked", "LicenseRemoved"]),
    )
    def user_clicks(self, data: st.DataObject, action: str) -> None:
        self.append({"type": action, "device": data.draw(st.sampled_from(sorted(self.registered)))})

    @rule(data=st.data(), connected=st.booleans())
    def console_connection(self, data: st.DataObject, connected: bool) -> None:
        device = data.draw(st.sampled_from(sorted(self.registered)))
        self.append({"type": "ConsoleConnectionChanged", "device": device, "connected": connected})

    @rule()
    def clock_ticks(self) -> None:
        appended = self.ledger.tick(self.now)
        self.reported += [(a.seq, a.result, a.reason) for a in appended]

    @invariant()
    def the_projection_is_what_replay_derives(self) -> None:
        events = [decode_event(line) for line in self.ledger.export()]
        assert [e.seq for e in self.ledger.events()] == list(range(1, len(events) + 1))
        world = replay(events)
        stored = [(row.seq, row.result, row.reason) for row in self.ledger.events()]
        assert stored == self.reported
        moment = events[-1].at if events else START
        assert moment is not None
        for device in DEVICES:
            try:
                from_store = self.ledger.status(device, moment)
            except UnknownDevice:
                assert device not in world.devices
                continue
            assert from_store == status(world, device, moment)
        for held, allowed in seats(world).values():
            assert held <= allowed

    def teardown(self) -> None:
        try:
            assert self.ledger.verify().ok
            copy = Ledger.open(self.folder / "copy.db")
            copy.append_lines(list(self.ledger.export()))
            assert list(copy.export()) == list(self.ledger.export())
            copy.close()
        finally:
            self.ledger.close()
            shutil.rmtree(self.folder, ignore_errors=True)


LedgerMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLedgerMachine = LedgerMachine.TestCase

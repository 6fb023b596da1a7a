"""Laws of the engine, checked over random histories (hypothesis).

A history is built the way a store builds one: each step draws an event that
fits the world as it is (mostly accepted, some refused by ``World.check``),
then seals, stamps, checks and applies it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from license_ledger.engine import queries
from license_ledger.engine.checks import GUARDS
from license_ledger.engine.codec import decode_event, decode_stored, encode, event_from_object, seal, stamp
from license_ledger.engine.codes import CodeRef, normalise, seal_code
from license_ledger.engine.effects import EFFECTS
from license_ledger.engine.events import Event
from license_ledger.engine.records import DeviceRecord, Failure
from license_ledger.engine.replay import replay, results, status_as_of
from license_ledger.engine.rules import FAILED_CHECK, STATES, TABLE, build_machine
from license_ledger.engine.snapshot import dump, load, same_state
from license_ledger.engine.views import DeviceStatus, Outcome
from license_ledger.engine.world import World
from license_ledger.errors import InputRefused
from scenario import START, t

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CODES = [f"PROPS-TESTS-CODES-{n:05d}" for n in range(8)]
#: What users type besides issued codes: other spellings, typos, codes never issued.
TYPED = [
    *CODES,
    "props tests codes 00001",
    "props-tests-codes-00002",
    "PROPS-TESTS-CODES-0000",
    "PROPS-TESTS-CODES-0000?",
    "XYZZY-XYZZY-XYZZY-XYZZY",
]
DEVICES = [f"device-{n}" for n in range(6)]
VERSIONS = ["20.1", "21.0", "21.3", "22.0", "22.1rc1", "23.0"]
SPECIFIERS = ["", "", ">=21", "<22", ">=21,<23", "==22.*"]
STEPS = [
    timedelta(0),
    timedelta(0),
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=10),
    timedelta(days=40),
]


@dataclass
class History:
    """Events accepted in order, what applying each one returned, and more."""

    events: list[Event] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    refused: list[Event] = field(default_factory=list)
    world: World = field(default_factory=World)
    #: Every device's status right after the last event at each time.
    statuses: dict[tuple[str, datetime], DeviceStatus] = field(default_factory=dict)


def _mostly(draw: st.DrawFn, likely: list[Any], other: list[Any]) -> Any:
    """Usually one of ``likely`` (when there is one), now and then one of ``other``."""
    if likely and draw(st.integers(0, 4)):
        return draw(st.sampled_from(likely))
    return draw(st.sampled_from(other))


def _event(draw: st.DrawFn, world: World, now: datetime, kind: str | None = None) -> dict[str, Any]:
    """One event as input (a dict), drawn to fit the world most of the time."""
    issued = [raw for raw in CODES if seal_code(raw).sha256 in world.codes]
    unissued = [raw for raw in CODES if raw not in issued]
    device = _mostly(draw, list(world.devices), DEVICES)
    kind = kind or draw(
        st.sampled_from(
            ["CodeIssued"] * 3
            + ["DeviceRegistered"] * 2
            + ["CodeEntered"] * 8
            + ["tick"] * 3
            + ["LicenseRemoved", "TryAgainClicked", "ActivateNowClicked", "LicenseExpired"] * 2
            + ["AppUpdated", "ConsoleConnectionChanged", "CodeBlocked"]
        )
    )
    if kind == "CodeIssued":
        event: dict[str, Any] = {
            "code": _mostly(draw, unissued, CODES),
            "kind": draw(st.sampled_from(["commercial", "commercial", "trial", "subscription"])),
            "term_days": draw(st.integers(1, 60)),
            "max_devices": draw(st.integers(1, 3)),
            "compatible_versions": draw(st.sampled_from(SPECIFIERS)),
            "requires_console": draw(st.booleans()),
        }
        if draw(st.booleans()):
            event["purchased_at"] = now - draw(st.sampled_from(STEPS))
    elif kind == "CodeBlocked":
        code = _mostly(draw, issued, CODES)
        event = {"code": code, "reason": draw(st.sampled_from([None, "refunded"]))}
    elif kind == "DeviceRegistered":
        unregistered = [d for d in DEVICES if d not in world.devices]
        event = {
            "device": _mostly(draw, unregistered, DEVICES),
            "app_version": draw(st.sampled_from(VERSIONS)),
        }
    elif kind == "AppUpdated":
        event = {"device": device, "app_version": draw(st.sampled_from(VERSIONS))}
    elif kind == "ConsoleConnectionChanged":
        event = {"device": device, "connected": draw(st.booleans())}
    elif kind == "CodeEntered":
        event = {"device": device, "code": _mostly(draw, issued, TYPED)}
    else:
        event = {"device": device}
    return {"type": kind, **event}


def _setup(draw: st.DrawFn, now: datetime) -> list[dict[str, Any]]:
    """A few devices and codes to start with, so that most steps can matter."""
    devices = draw(st.lists(st.sampled_from(DEVICES), min_size=1, max_size=4, unique=True))
    codes = draw(st.lists(st.sampled_from(CODES), min_size=1, max_size=5, unique=True))
    world = World()  # nothing issued yet: _event draws fresh codes
    return [
        *(
            {"type": "DeviceRegistered", "device": d, "app_version": draw(st.sampled_from(VERSIONS))}
            for d in devices
        ),
        *(_event(draw, world, now, "CodeIssued") | {"code": code} for code in codes),
    ]


@st.composite
def histories(draw: st.DrawFn, max_steps: int = 60) -> History:
    history = History()
    world = history.world
    now = t(START)
    steps: list[Any] = _setup(draw, now)
    steps += [None] * draw(st.integers(0, max_steps))
    for step in steps:
        if step is None:
            now += draw(st.sampled_from(STEPS))
        at = now - timedelta(days=1) if draw(st.integers(0, 30)) == 0 else now  # sometimes out of order
        raw = step or _event(draw, world, now)
        if raw["type"] == "tick":
            batch = list(queries.due_expiries(world, now))
        else:
            batch = [stamp(seal(event_from_object(raw)), at)]
        for event in batch:
            try:
                world.check(event)
            except InputRefused:
                history.refused.append(event)
                continue
            history.events.append(event)
            history.outcomes.append(world.apply(event))
            assert event.at is not None
            for device in world.devices:
                history.statuses[device, event.at] = queries.status(world, device, event.at)
    return history


def copy(world: World) -> World:
    return load(dump(world))


# --- replay --------------------------------------------------------------------


@SETTINGS
@given(histories())
def test_replay_is_deterministic_and_matches_applying_one_by_one(history: History) -> None:
    assert same_state(replay(history.events), history.world)
    assert same_state(replay(history.events), replay(history.events))
    assert [outcome for _, _, outcome in results(history.events)] == history.outcomes
    assert [seq for seq, _, _ in results(history.events)] == list(range(1, len(history.events) + 1))


@SETTINGS
@given(histories())
def test_status_as_of_a_time_is_the_status_after_the_events_up_to_it(history: History) -> None:
    for (device, as_of), status in history.statuses.items():
        assert status_as_of(history.events, device, as_of) == status


@SETTINGS
@given(histories())
def test_seats_never_exceed_max_devices_and_are_held_by_active_or_blocked_licenses(history: History) -> None:
    world = World()
    for _ in results(history.events, world=world):
        for fp, code in world.codes.items():
            assert len(code.holders) <= code.max_devices
            assert code.holders == {
                d.id for d in world.devices.values() if d.license == fp and d.state in ("active", "blocked")
            }
        for device in world.devices.values():
            assert (device.license is None) == (device.state == "unlicensed")


# --- the log as stored -----------------------------------------------------------


@SETTINGS
@given(histories())
def test_no_raw_code_is_ever_stored(history: History) -> None:
    secrets = {text for raw in TYPED for text in (raw, normalise(raw))}
    for event in history.events + history.refused:
        stored = encode(event).decode()
        assert not [secret for secret in secrets if secret in stored]
        code = getattr(event, "code", None)
        assert code is None or isinstance(code, CodeRef)


@SETTINGS
@given(histories())
def test_decoding_an_encoded_event_gives_it_back(history: History) -> None:
    for event in history.events + history.refused:
        assert decode_event(encode(event)) == event
        assert decode_stored(encode(event)) == event
        assert seal(decode_event(encode(event))) == event  # sealing a stored event changes nothing


# --- batches and snapshots -----------------------------------------------------------


@SETTINGS
@given(histories(), st.data())
def test_rollback_restores_the_world_after_a_partly_applied_batch(
    history: History, data: st.DataObject
) -> None:
    events = history.events
    start = data.draw(st.integers(0, len(events)), label="batch starts")
    stop = data.draw(st.integers(start, len(events)), label="refused at")
    world = replay(events[:start])
    before = copy(world)
    world.begin()
    for event in events[start:stop]:
        world.check(event)
        world.apply(event)
    world.rollback()
    assert same_state(world, before)
    # The world goes on as if the batch had never been tried.
    replay(events[start:], world=world)
    assert same_state(world, history.world)


@SETTINGS
@given(histories(), st.data())
def test_a_snapshot_restores_the_world_and_replay_goes_on_from_it(
    history: History, data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(history.events)), label="snapshot after")
    restored = load(dump(replay(history.events[:cut])))
    assert same_state(restored, replay(history.events[:cut]))
    rest = [outcome for _, _, outcome in results(history.events[cut:], world=restored)]
    assert rest == history.outcomes[cut:]
    assert same_state(restored, history.world)


# --- the compiled table agrees with transitions' own dispatch ---------------------


class Reference:
    """The one model the reference machine drives; its target is set per call."""

    state: str

    def __init__(self) -> None:
        self.world = World()
        self.device = DeviceRecord(id="-", registered_at=t(START), app_version="0")
        self.code: CodeRef | None = None
        self.failed: Failure | None = None
        self.taken: Any = None

    def record(self, event_data: Any) -> None:
        self.taken = event_data.transition

    def candidate(self) -> Any:
        """The world's record of the candidate code, as the world passes it."""
        return None if self.code is None else self.world.codes.get(self.code.sha256)


def _condition(name: str) -> Any:
    guard = GUARDS[name]

    def condition(self: Reference, event_data: Any) -> bool:
        failure = guard(self.world, self.device, self.code, self.candidate())
        if failure is not None:
            self.failed = failure
        return failure is None

    return condition


def _callback(name: str) -> Any:
    effect = EFFECTS[name]

    def callback(self: Reference, event_data: Any) -> None:
        effect(self.world, self.device, self.code, self.candidate(), self.failed)

    return callback


for _name in GUARDS:
    setattr(Reference, _name, _condition(_name))
for _name in EFFECTS:
    setattr(Reference, _name, _callback(_name))

MODEL = Reference()
MACHINE = build_machine(MODEL)
MACHINE.after_state_change = "record"


def dispatch(world: World, device: DeviceRecord, trigger: str, code: CodeRef | None) -> Outcome:
    """Fire a trigger through ``transitions`` itself, on the shared model."""
    MODEL.world, MODEL.device, MODEL.code = world, device, code
    MODEL.failed = MODEL.taken = None
    MODEL.state = device.state
    assert getattr(MODEL, trigger)()
    device.state = MODEL.state
    rule = MODEL.taken
    if rule.reason is FAILED_CHECK:
        assert MODEL.failed is not None
        reason, detail, _ = MODEL.failed
        return Outcome(rule.result, reason, detail)
    return Outcome(rule.result, rule.reason)


def test_the_table_has_a_rule_for_exactly_the_machines_state_and_trigger_pairs() -> None:
    defined = {(source, trigger) for trigger, event in MACHINE.events.items() for source in event.transitions}
    compiled = {(state, trigger) for state in STATES for trigger in TABLE[state]}
    assert compiled == defined


@SETTINGS
@given(histories(), st.sampled_from(STEPS))
def test_the_compiled_table_decides_as_transitions_does(history: History, step: timedelta) -> None:
    world = history.world
    now = (world.last_at or t(START)) + step
    candidates = [seal_code(raw) for raw in TYPED]
    for device_id, device in world.devices.items():
        for trigger in TABLE[device.state]:
            if trigger == "enter_code":
                codes: list[CodeRef | None] = list(candidates)
            elif trigger == "block":
                codes = [world.codes[device.license].ref]  # type: ignore[index]
            else:
                codes = [device.backup]
            for code in codes:
                compiled, reference = copy(world), copy(world)
                compiled.last_at = reference.last_at = now
                expected = dispatch(reference, reference.devices[device_id], trigger, code)
                # Evidence is the compiled table's own (tests/test_evidence.py); the rest must agree.
                outcome = compiled._fire(compiled.devices[device_id], trigger, code)
                assert msgspec.structs.replace(outcome, evidence=()) == expected
                assert same_state(compiled, reference)

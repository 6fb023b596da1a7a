"""The world replay folds events into, and the two steps an event goes through.

:meth:`World.check` refuses an event that the specification (docs/spec.md)
says must not be stored (the state-dependent refusals: order in time, unknown
or twice-registered devices, unknown or twice-issued codes, an expiry that is
not due). :meth:`World.apply` then derives its result through the compiled
rules table. The two are separate so that a store can refuse a whole batch
before writing anything; :meth:`World.begin` / :meth:`World.rollback` undo a
batch that was refused half way (and :meth:`World.savepoint` one batch of
several written together). Nothing here reads a clock: time is the
events' ``at``.

The world is a :class:`~license_ledger.engine.state.State` (the records and
the clock, which the guards and effects see) with these two steps added. The
rest lives next door: the undo journal of a batch in
:mod:`~license_ledger.engine.journal`, snapshots in
:mod:`~license_ledger.engine.snapshot`, status, due expiries and seats in
:mod:`~license_ledger.engine.queries`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..errors import InputRefused
from .codes import CodeRef, mask
from .events import (
    ActivateNowClicked,
    AnyEvent,
    AppUpdated,
    CodeBlocked,
    CodeEntered,
    CodeIssued,
    ConsoleConnectionChanged,
    DeviceRegistered,
    Event,
    LicenseExpired,
    LicenseRemoved,
    TryAgainClicked,
)
from .evidence import merged
from .journal import Journal
from .moments import format_time
from .records import CodeRecord, DeviceRecord, Failure
from .rules import TABLE
from .state import State
from .views import Outcome

__all__ = ["RECORDED", "World"]

#: The result of an event no rule judges (an issue, a registration, an update).
RECORDED = Outcome("recorded")


class World(State):
    """Every device and code, as the events so far made them; checks and applies the next event."""

    def __init__(self) -> None:
        super().__init__()
        #: The undo journal of the batch under way (None outside a batch).
        self._journal: Journal | None = None
        self._apply: dict[type, Callable[[Any], Outcome]] = {
            CodeIssued: self._code_issued,
            CodeBlocked: self._code_blocked,
            DeviceRegistered: self._device_registered,
            AppUpdated: self._app_updated,
            ConsoleConnectionChanged: self._console_changed,
            CodeEntered: self._code_entered,
            LicenseExpired: self._backup_trigger("expire"),
            LicenseRemoved: self._backup_trigger("remove"),
            TryAgainClicked: self._backup_trigger("try_again"),
            ActivateNowClicked: self._backup_trigger("activate_now"),
        }

    # --- refusing ----------------------------------------------------------

    def check(self, event: AnyEvent) -> None:
        """Refuse an event that must not be stored, given the world as it is."""
        name = type(event).__name__
        at = event.at
        if at is None:
            raise ValueError("check() needs a stamped event (with `at`)")
        if isinstance(getattr(event, "code", None), str):
            raise ValueError("check() needs a sealed event (codes as CodeRef)")
        if self.last_at is not None and at < self.last_at:
            raise InputRefused(
                f"a time at or after {format_time(self.last_at)} (the event before it)",
                format_time(at),
                field="$.at",
                event_type=name,
            )
        if isinstance(event, CodeIssued):
            code: CodeRef = event.code  # type: ignore[assignment]  # sealed: checked above
            if code.sha256 in self.codes:
                issued = self.codes[code.sha256].issued_at
                raise InputRefused(
                    "a code that was not issued before",
                    f"{mask(code)}, issued at {format_time(issued)}",
                    field="$.code",
                    event_type=name,
                )
            return
        if isinstance(event, CodeBlocked):
            code = event.code  # type: ignore[assignment]  # sealed: checked above
            if code.sha256 not in self.codes:
                raise InputRefused(
                    "a code that was issued", f"{mask(code)}, never issued", field="$.code", event_type=name
                )
            return
        device: str = event.device
        if isinstance(event, DeviceRegistered):
            if device in self.devices:
                registered = format_time(self.devices[device].registered_at)
                raise InputRefused(
                    "a device not registered before",
                    f"{device!r}, registered at {registered}",
                    field="$.device",
                    event_type=name,
                )
            return
        record = self.devices.get(device)
        if record is None:
            raise InputRefused(
                "a registered device", f"{device!r}, never registered", field="$.device", event_type=name
            )
        if isinstance(event, LicenseExpired):
            if record.state != "active":
                raise InputRefused(
                    "a device whose license is active",
                    f"{device!r} in state {record.state}",
                    field="$.device",
                    event_type=name,
                )
            expires_at = self.codes[record.license].expires_at  # type: ignore[index]
            assert expires_at is not None
            if at < expires_at:
                raise InputRefused(
                    f"a time at or after the license's expiry {format_time(expires_at)}",
                    format_time(at),
                    field="$.at",
                    event_type=name,
                )

    # --- applying ----------------------------------------------------------

    def apply(self, event: Event) -> Outcome:
        """Apply a checked, sealed, stamped event; return its result."""
        self.last_at = event.at
        self.count += 1
        return self._apply[type(event)](event)

    def apply_all(self, events: Iterable[Event]) -> None:
        """Fold many events, discarding their results (the fast path of replay)."""
        handlers = self._apply
        count = self.count
        for event in events:
            # apply(), inlined: one call less per event. The count is the seq
            # of the event being applied: effects note it as evidence.
            self.last_at = event.at
            count += 1
            self.count = count
            handlers[type(event)](event)

    def _fire(self, device: DeviceRecord, trigger: str, code: CodeRef | None) -> Outcome:
        """Take the first branch of the rules table whose guards all pass."""
        failed: Failure | None = None
        # Looked up once here, not in every guard: replay's cost is mostly
        # memory traffic over hundreds of thousands of records.
        record = None if code is None else self.codes.get(code.sha256)
        for guards, dest, result, effect, shared, witness in TABLE[device.state][trigger]:
            for guard in guards:
                failure = guard(self, device, code, record)
                if failure is not None:
                    failed = failure
                    break
            else:
                if witness is None:  # the common case, kept as lean as before evidence
                    if effect is not None:
                        effect(self, device, code, record, failed)
                    device.state = dest
                    if shared is not None:
                        return shared  # outcomes without details are made once, in the table
                    return Outcome(result, failed[0], failed[1], failed[2])  # type: ignore[index]
                # The witness looks before the effect changes what it looks at.
                evidence = witness(self, device, code, record)
                if effect is not None:
                    effect(self, device, code, record, failed)
                device.state = dest
                if shared is not None:
                    return Outcome(result, shared.reason, None, evidence) if evidence else shared
                return Outcome(result, failed[0], failed[1], merged(evidence, failed[2]))  # type: ignore[index]
        raise AssertionError(f"no rule for {trigger} in state {device.state}")

    def _code_issued(self, event: CodeIssued) -> Outcome:
        # Hot path: no checks here; check() refused raw codes and stamp() set the times.
        code: CodeRef = event.code  # type: ignore[assignment]
        if self._journal is not None:
            self._journal.save_code(code.sha256)
        self.codes[code.sha256] = CodeRecord(
            ref=code,
            kind=event.kind,
            term_days=event.term_days,
            max_devices=event.max_devices,
            compatible_versions=event.compatible_versions,
            requires_console=event.requires_console,
            purchased_at=event.purchased_at,  # type: ignore[arg-type]
            issued_at=event.at,  # type: ignore[arg-type]
        )
        return RECORDED

    def _code_blocked(self, event: CodeBlocked) -> Outcome:
        code: CodeRef = event.code  # type: ignore[assignment]  # sealed: check() refused raw codes
        journal = self._journal
        if journal is not None:
            journal.save_code(code.sha256)
        record = self.codes[code.sha256]
        record.blocked = True
        record.block_reason = event.reason
        record.blocked_seq = self.count
        blocked = []
        activations = []  # the evidence: what gave each blocked device its license
        for device_id in sorted(record.holders):
            device = self.devices[device_id]
            if device.state == "active":
                if journal is not None:
                    journal.save_device(device_id)
                if device.license_seq is not None:
                    activations.append(device.license_seq)
                self._fire(device, "block", code)
                blocked.append(device_id)
        return Outcome("blocked", None, {"blocked_devices": blocked}, tuple(sorted(activations)))

    def _device_registered(self, event: DeviceRegistered) -> Outcome:
        if self._journal is not None:
            self._journal.save_device(event.device)
        self.devices[event.device] = DeviceRecord(
            id=event.device,
            registered_at=event.at,  # type: ignore[arg-type]
            app_version=event.app_version,
            version_seq=self.count,
        )
        return RECORDED

    def _app_updated(self, event: AppUpdated) -> Outcome:
        if self._journal is not None:
            self._journal.save_device(event.device)
        device = self.devices[event.device]
        device.app_version = event.app_version
        device.version_seq = self.count
        return RECORDED

    def _console_changed(self, event: ConsoleConnectionChanged) -> Outcome:
        if self._journal is not None:
            self._journal.save_device(event.device)
        device = self.devices[event.device]
        device.connected = event.connected
        device.console_seq = self.count
        return RECORDED

    def _code_entered(self, event: CodeEntered) -> Outcome:
        device = self.devices[event.device]
        code: CodeRef = event.code  # type: ignore[assignment]  # sealed: check() refused raw codes
        if self._journal is not None:
            self._journal.save_for_trigger(device, code)
        return self._fire(device, "enter_code", code)

    def _backup_trigger(self, trigger: str) -> Callable[[Any], Outcome]:
        def fire(event: Any) -> Outcome:
            device = self.devices[event.device]
            if self._journal is not None:
                self._journal.save_for_trigger(device, device.backup)
            return self._fire(device, trigger, device.backup)

        fire.__name__ = f"_{trigger}"
        return fire

    # --- a batch that can be taken back -------------------------------------

    def begin(self) -> None:
        """Start remembering what changes, so that :meth:`rollback` can undo it."""
        self._journal = Journal(self)

    @property
    def in_batch(self) -> bool:
        """True between :meth:`begin` and :meth:`commit` or :meth:`rollback`."""
        return self._journal is not None

    def commit(self) -> None:
        """Forget the undo information: the batch stays."""
        self._journal = None

    def savepoint(self) -> None:
        """Inside a batch, start a part that :meth:`rollback_to_savepoint` can undo alone.

        A group commit makes each of the batches it writes together such a part.
        """
        assert self._journal is not None, "savepoint() without begin()"
        self._journal.mark()

    def rollback_to_savepoint(self) -> None:
        """Undo what was applied since the last :meth:`savepoint`; keep what came before it."""
        assert self._journal is not None, "rollback_to_savepoint() without begin()"
        self._journal.undo_section()

    def rollback(self) -> None:
        """Undo everything applied since :meth:`begin` (every savepoint's part too)."""
        assert self._journal is not None, "rollback() without begin()"
        self._journal.undo()
        self._journal = None

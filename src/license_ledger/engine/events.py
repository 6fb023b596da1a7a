"""The event vocabulary: frozen, tagged msgspec Structs, one per event type.

Two forms of the same Structs exist. *Input* may carry a raw activation code
(a string) and may leave ``at`` out. *Stored* events always have ``at`` and
carry codes only as :class:`~license_ledger.engine.codes.CodeRef`. :func:`seal`
turns the first into the second; the decoders accept both, so an exported
log appends into a fresh store as it is.

Schema evolution: a new field needs a default and keeps the version; any
other change bumps :data:`SCHEMA_VERSION` and adds an upcaster to
:data:`UPCASTERS` (see ``docs/rules.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from .codes import CodeRef

__all__ = [
    "SCHEMA_VERSION",
    "UPCASTERS",
    "ActivateNowClicked",
    "AppUpdated",
    "CodeBlocked",
    "CodeEntered",
    "CodeIssued",
    "ConsoleConnectionChanged",
    "DeviceRegistered",
    "Event",
    "EVENT_TYPES",
    "LicenseExpired",
    "LicenseRemoved",
    "TryAgainClicked",
    "AnyEvent",
]

#: The version every event written by this library carries in its ``v`` field.
SCHEMA_VERSION = 1

#: Upcasters: ``UPCASTERS[n]`` turns a version ``n`` event (as a dict) into
#: version ``n + 1``. Empty while only version 1 exists.
UPCASTERS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}

UtcTime = Annotated[datetime, msgspec.Meta(tz=True)]
DeviceId = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$",
        description="A device identifier: letters, digits and . _ : @ -",
    ),
]
IdempotencyKey = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
#: A raw code as typed (input only) or the stored fingerprint.
Code = Annotated[str, msgspec.Meta(max_length=200, description="A raw activation code")] | CodeRef
Version = Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="A PEP 440 version")]


class Event(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="type",
    gc=False,
):
    """The fields every event has.

    ``gc=False``: an event holds only scalars and a CodeRef, so it can never
    be part of a reference cycle; untracked, a million of them cost the
    garbage collector nothing during replay.
    """

    at: UtcTime | None = None
    id: IdempotencyKey | None = None
    v: Annotated[int, msgspec.Meta(ge=1)] = SCHEMA_VERSION


# --- the vendor -----------------------------------------------------------


class CodeIssued(Event, tag=True, frozen=True):
    """The vendor issued an activation code."""

    code: Code
    kind: Literal["commercial", "trial", "subscription"]
    term_days: Annotated[int, msgspec.Meta(ge=1, le=36_500)]
    max_devices: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    compatible_versions: Annotated[str, msgspec.Meta(max_length=200)] = ""
    requires_console: bool = False
    purchased_at: UtcTime | None = None


class CodeBlocked(Event, tag=True, frozen=True):
    """The vendor blocked a code: active licenses with it become blocked."""

    code: Code
    reason: Annotated[str, msgspec.Meta(max_length=500)] | None = None


# --- the system -----------------------------------------------------------


class DeviceRegistered(Event, tag=True, frozen=True):
    """A device installed the application."""

    device: DeviceId
    app_version: Version


class AppUpdated(Event, tag=True, frozen=True):
    """The application on a device moved to another version."""

    device: DeviceId
    app_version: Version


class ConsoleConnectionChanged(Event, tag=True, frozen=True):
    """A device lost or regained its management console connection."""

    device: DeviceId
    connected: bool


class LicenseExpired(Event, tag=True, frozen=True):
    """The clock passed an active license's expiry (appended by a tick)."""

    device: DeviceId


# --- the user -------------------------------------------------------------


class CodeEntered(Event, tag=True, frozen=True):
    """Enter activation code → Save."""

    device: DeviceId
    code: Code


class TryAgainClicked(Event, tag=True, frozen=True):
    """The user clicked Try again."""

    device: DeviceId


class ActivateNowClicked(Event, tag=True, frozen=True):
    """The user clicked Activate now."""

    device: DeviceId


class LicenseRemoved(Event, tag=True, frozen=True):
    """The user removed the license from the device."""

    device: DeviceId


AnyEvent = (
    CodeIssued
    | CodeBlocked
    | DeviceRegistered
    | AppUpdated
    | ConsoleConnectionChanged
    | LicenseExpired
    | CodeEntered
    | TryAgainClicked
    | ActivateNowClicked
    | LicenseRemoved
)

EVENT_TYPES: tuple[type[Event], ...] = (
    CodeIssued,
    CodeBlocked,
    DeviceRegistered,
    AppUpdated,
    ConsoleConnectionChanged,
    LicenseExpired,
    CodeEntered,
    TryAgainClicked,
    ActivateNowClicked,
    LicenseRemoved,
)

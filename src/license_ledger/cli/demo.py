"""A realistic story from the vendor's help page, for ``license-ledger demo``.

Five devices in a small office, over a year and a half: a backup code added
and renewed at expiry, a code shared by several devices, a device limit then
Try again, a blocked license then Activate now, an incompatible version fixed
by an update, and a few mistyped entries. Steps are events (as a user or the
vendor would send them, raw codes included) or ticks of the clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..engine.moments import parse_moment
from ..engine.views import Appended
from ..ledger import Ledger

__all__ = ["DEVICES", "MOMENTS", "STORY", "STORY_END", "TRACED", "Tick", "run"]


class Tick:
    """The clock reaching a moment: due expiries are appended then."""

    def __init__(self, at: str) -> None:
        self.at: datetime = parse_moment(at, field="at")


def _issue(at: str, code: str, kind: str, days: int, devices: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "CodeIssued",
        "at": at,
        "code": code,
        "kind": kind,
        "term_days": days,
        "max_devices": devices,
        **extra,
    }


def _device(at: str, type_: str, device: str, **extra: Any) -> dict[str, Any]:
    return {"type": type_, "at": at, "device": device, **extra}


HOME = "HOMEB-UNDLE-2025A-3HOME"  # three devices, one year
RENEWAL = "RENEW-ALFOR-2026A-3RNEW"  # the new code, bought before the first expired
SINGLE = "SINGL-ESEAT-2025A-1SEAT"  # one device only
TABLET = "TABLE-TONLY-2025A-1TABL"
BLOCKED = "CHARG-EBACK-2025A-1CHBK"  # paid with a card that was charged back
REPLACE = "REPLA-CEMEN-T2025-1REPL"
NEWAPP = "NEWAP-PONLY-2025A-1NEWV"  # needs version 23 or later
WORKSTATION = "WORKS-TATIO-N2025-1WRKS"

STORY: list[dict[str, Any] | Tick] = [
    # The vendor sells codes.
    _issue("2025-01-10T09:00:00Z", HOME, "commercial", 365, 3),
    _issue("2025-01-10T09:00:00Z", SINGLE, "commercial", 365, 1),
    _issue("2025-01-10T09:00:00Z", TABLET, "commercial", 120, 1),
    _issue("2025-01-10T09:00:00Z", BLOCKED, "commercial", 365, 1),
    _issue("2025-01-10T09:00:00Z", WORKSTATION, "commercial", 90, 1),
    _issue("2025-01-10T09:00:00Z", NEWAPP, "commercial", 365, 1, compatible_versions=">=23.0"),
    # Six devices install the application.
    _device("2025-01-12T08:00:00Z", "DeviceRegistered", "home-laptop", app_version="22.1"),
    _device("2025-01-12T08:05:00Z", "DeviceRegistered", "office-desktop", app_version="22.1"),
    _device("2025-01-12T08:10:00Z", "DeviceRegistered", "kids-tablet", app_version="22.1"),
    _device("2025-01-12T08:15:00Z", "DeviceRegistered", "studio-pc", app_version="22.1"),
    _device("2025-01-12T08:20:00Z", "DeviceRegistered", "workstation", app_version="21.4"),
    _device("2025-01-12T08:25:00Z", "DeviceRegistered", "reception-pc", app_version="22.1"),
    # A code for three devices, entered on two: they share its activation date.
    _device("2025-01-12T09:00:00Z", "CodeEntered", "home-laptop", code=HOME.lower()),
    _device("2025-02-01T18:00:00Z", "CodeEntered", "office-desktop", code=HOME),
    _device("2025-02-01T18:05:00Z", "CodeEntered", "kids-tablet", code=TABLET),
    _device("2025-02-01T18:10:00Z", "CodeEntered", "studio-pc", code=SINGLE),
    _device("2025-02-01T18:20:00Z", "CodeEntered", "workstation", code=WORKSTATION),
    _device("2025-02-01T18:25:00Z", "CodeEntered", "reception-pc", code=BLOCKED),
    # The tablet's owner adds the studio's single-seat code as a backup (after a typo).
    _device("2025-03-01T10:00:00Z", "CodeEntered", "kids-tablet", code="SINGL-ESEAT-2025A-1SEA"),
    _device("2025-03-01T10:01:00Z", "CodeEntered", "kids-tablet", code=SINGLE),
    # The workstation gets a backup that needs a newer application.
    _device("2025-03-05T12:00:00Z", "CodeEntered", "workstation", code=NEWAPP),
    # The vendor blocks a charged-back code; reception has a replacement ready.
    _issue("2025-03-10T09:00:00Z", REPLACE, "commercial", 365, 1),
    _device("2025-03-10T09:30:00Z", "CodeEntered", "reception-pc", code=REPLACE),
    {"type": "CodeBlocked", "at": "2025-03-12T00:00:00Z", "code": BLOCKED, "reason": "payment reversed"},
    _device("2025-03-12T09:00:00Z", "ActivateNowClicked", "reception-pc"),
    # The workstation's license expires: its backup needs version 23.
    Tick("2025-05-03T00:00:00Z"),
    _device("2025-05-03T09:00:00Z", "AppUpdated", "workstation", app_version="23.0.1"),
    _device("2025-05-03T09:05:00Z", "TryAgainClicked", "workstation"),
    # The tablet's license expires: the single seat is still held by the studio.
    Tick("2025-06-02T00:00:00Z"),
    _device("2025-06-02T08:00:00Z", "TryAgainClicked", "kids-tablet"),
    _device("2025-06-02T19:00:00Z", "LicenseRemoved", "studio-pc"),
    _device("2025-06-02T19:05:00Z", "TryAgainClicked", "kids-tablet"),
    # The renewal code is bought before the bundle runs out, and entered on both.
    _issue("2025-12-20T10:00:00Z", RENEWAL, "commercial", 365, 3),
    _device("2025-12-20T11:00:00Z", "CodeEntered", "office-desktop", code=RENEWAL),
    _device("2025-12-21T11:00:00Z", "CodeEntered", "home-laptop", code="RENEW-ALFOR-2026A-3RNEX"),
    _device("2025-12-21T11:01:00Z", "CodeEntered", "home-laptop", code=RENEWAL),
    # The bundle expires on the laptop and the desktop at the same moment.
    Tick("2026-01-12T09:00:00Z"),
]

#: The moment the story's statuses are shown at.
STORY_END = parse_moment("2026-01-12T12:00:00Z", field="at")

#: Moments worth a look on the way: (device, time) pairs the demo shows.
MOMENTS = (
    ("reception-pc", parse_moment("2025-03-12T08:00:00Z", field="at")),  # blocked, Activate now shown
    ("kids-tablet", parse_moment("2025-06-02T12:00:00Z", field="at")),  # renewal failed, Try again shown
)

#: Every device of the story, and those whose traces the demo prints.
DEVICES = ("home-laptop", "office-desktop", "kids-tablet", "studio-pc", "workstation", "reception-pc")
TRACED = ("kids-tablet", "workstation")


def run(ledger: Ledger) -> list[Appended]:
    """Append the whole story to ``ledger``; return every append's results."""
    appended: list[Appended] = []
    pending: list[dict[str, Any]] = []
    for step in STORY:
        if isinstance(step, Tick):
            appended += ledger.append(pending) if pending else []
            pending = []
            appended += ledger.tick(step.at)
        else:
            pending.append(step)
    if pending:
        appended += ledger.append(pending)
    return appended

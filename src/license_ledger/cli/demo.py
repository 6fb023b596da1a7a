"""A realistic story from the vendor's help page, for ``license-ledger demo``.

Six devices in a small office, over a year: a backup code added and renewed
at expiry, a code shared by several devices, a device limit then Try again, a
blocked license then Activate now, an incompatible version fixed by an update,
and a few mistyped entries. The story is told in chapters, each a sentence or
two that ``license-ledger demo`` prints before the chapter's events. Steps are
events (as a user or the vendor would send them, raw codes included) or ticks
of the clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from ..engine.moments import parse_moment
from ..engine.views import Appended
from ..ledger import Ledger

__all__ = ["CHAPTERS", "DEVICES", "STORY", "STORY_END", "Chapter", "Tick", "run"]


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

Step = dict[str, Any] | Tick


class Chapter(NamedTuple):
    """A part of the story: what happens, in a sentence or two, and its steps."""

    text: str
    steps: list[Step]
    #: A device whose status is worth a look when the chapter is told, and when.
    look: tuple[str, datetime] | None = None


CHAPTERS: list[Chapter] = [
    Chapter(
        "The vendor sells six codes: a bundle for three devices (3HOME), one-seat "
        "codes for the studio PC (1SEAT), the tablet (1TABL, 120 days), reception "
        "(1CHBK) and the workstation (1WRKS, 90 days), and one that needs version 23 "
        "of the application (1NEWV).",
        [
            _issue("2025-01-10T09:00:00Z", HOME, "commercial", 365, 3),
            _issue("2025-01-10T09:00:00Z", SINGLE, "commercial", 365, 1),
            _issue("2025-01-10T09:00:00Z", TABLET, "commercial", 120, 1),
            _issue("2025-01-10T09:00:00Z", BLOCKED, "commercial", 365, 1),
            _issue("2025-01-10T09:00:00Z", WORKSTATION, "commercial", 90, 1),
            _issue("2025-01-10T09:00:00Z", NEWAPP, "commercial", 365, 1, compatible_versions=">=23.0"),
        ],
    ),
    Chapter(
        "Six devices of a small office install the application; the workstation still runs version 21.4.",
        [
            _device("2025-01-12T08:00:00Z", "DeviceRegistered", "home-laptop", app_version="22.1"),
            _device("2025-01-12T08:05:00Z", "DeviceRegistered", "office-desktop", app_version="22.1"),
            _device("2025-01-12T08:10:00Z", "DeviceRegistered", "kids-tablet", app_version="22.1"),
            _device("2025-01-12T08:15:00Z", "DeviceRegistered", "studio-pc", app_version="22.1"),
            _device("2025-01-12T08:20:00Z", "DeviceRegistered", "workstation", app_version="21.4"),
            _device("2025-01-12T08:25:00Z", "DeviceRegistered", "reception-pc", app_version="22.1"),
        ],
    ),
    Chapter(
        "Each device enters a code. The home laptop and the office desktop share "
        "the bundle: its year started when it was first activated, on the laptop, "
        "and ends for both at the same moment.",
        [
            _device("2025-01-12T09:00:00Z", "CodeEntered", "home-laptop", code=HOME.lower()),
            _device("2025-02-01T18:00:00Z", "CodeEntered", "office-desktop", code=HOME),
            _device("2025-02-01T18:05:00Z", "CodeEntered", "kids-tablet", code=TABLET),
            _device("2025-02-01T18:10:00Z", "CodeEntered", "studio-pc", code=SINGLE),
            _device("2025-02-01T18:20:00Z", "CodeEntered", "workstation", code=WORKSTATION),
            _device("2025-02-01T18:25:00Z", "CodeEntered", "reception-pc", code=BLOCKED),
        ],
    ),
    Chapter(
        "The family adds a backup code to the kids' tablet for when its 120 days "
        "run out: the studio's one-seat code, mistyped the first time. The "
        "workstation adds a backup too, a code that needs version 23.",
        [
            _device("2025-03-01T10:00:00Z", "CodeEntered", "kids-tablet", code="SINGL-ESEAT-2025A-1SEA"),
            _device("2025-03-01T10:01:00Z", "CodeEntered", "kids-tablet", code=SINGLE),
            _device("2025-03-05T12:00:00Z", "CodeEntered", "workstation", code=NEWAPP),
        ],
    ),
    Chapter(
        "Reception's code was paid with a card that was charged back. The vendor "
        "sells a replacement, reception enters it as a backup, then the vendor "
        "blocks the old code. Reception's license is blocked, and the application "
        "offers Activate now; reception clicks it.",
        [
            _issue("2025-03-10T09:00:00Z", REPLACE, "commercial", 365, 1),
            _device("2025-03-10T09:30:00Z", "CodeEntered", "reception-pc", code=REPLACE),
            {
                "type": "CodeBlocked",
                "at": "2025-03-12T00:00:00Z",
                "code": BLOCKED,
                "reason": "payment reversed",
            },
            _device("2025-03-12T09:00:00Z", "ActivateNowClicked", "reception-pc"),
        ],
        look=("reception-pc", parse_moment("2025-03-12T08:00:00Z", field="at")),
    ),
    Chapter(
        "The workstation's 90 days run out. Its backup needs version 23, so the "
        "renewal fails; the application is updated, and Try again renews the license.",
        [
            Tick("2025-05-03T00:00:00Z"),
            _device("2025-05-03T09:00:00Z", "AppUpdated", "workstation", app_version="23.0.1"),
            _device("2025-05-03T09:05:00Z", "TryAgainClicked", "workstation"),
        ],
    ),
    Chapter(
        "The tablet's 120 days run out and it renews with its backup code, but the "
        "code's only seat is taken by the studio PC: the renewal fails, and so "
        "does Try again. In the evening the studio PC removes its license, and "
        "Try again renews the tablet.",
        [
            Tick("2025-06-02T00:00:00Z"),
            _device("2025-06-02T08:00:00Z", "TryAgainClicked", "kids-tablet"),
            _device("2025-06-02T19:00:00Z", "LicenseRemoved", "studio-pc"),
            _device("2025-06-02T19:05:00Z", "TryAgainClicked", "kids-tablet"),
        ],
        look=("kids-tablet", parse_moment("2025-06-02T12:00:00Z", field="at")),
    ),
    Chapter(
        "Before the bundle's year is out, the office buys its renewal (3RNEW) and "
        "enters it on the desktop, and on the laptop after a typo: each now has a "
        "pending backup. When the year ends, one tick renews both.",
        [
            _issue("2025-12-20T10:00:00Z", RENEWAL, "commercial", 365, 3),
            _device("2025-12-20T11:00:00Z", "CodeEntered", "office-desktop", code=RENEWAL),
            _device("2025-12-21T11:00:00Z", "CodeEntered", "home-laptop", code="RENEW-ALFOR-2026A-3RNEX"),
            _device("2025-12-21T11:01:00Z", "CodeEntered", "home-laptop", code=RENEWAL),
            Tick("2026-01-12T09:00:00Z"),
        ],
    ),
]

#: Every step of the story, in order.
STORY: list[Step] = [step for chapter in CHAPTERS for step in chapter.steps]

#: The moment the story's statuses are shown at.
STORY_END = parse_moment("2026-01-12T12:00:00Z", field="at")

#: Every device of the story.
DEVICES = ("home-laptop", "office-desktop", "kids-tablet", "studio-pc", "workstation", "reception-pc")


def run(ledger: Ledger, steps: list[Step] = STORY) -> list[Appended]:
    """Append the steps (the whole story by default) to ``ledger``; return every append's results."""
    appended: list[Appended] = []
    pending: list[dict[str, Any]] = []
    for step in steps:
        if isinstance(step, Tick):
            appended += ledger.append(pending) if pending else []
            pending = []
            appended += ledger.tick(step.at)
        else:
            pending.append(step)
    if pending:
        appended += ledger.append(pending)
    return appended

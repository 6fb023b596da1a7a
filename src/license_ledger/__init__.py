"""license-ledger: an append-only, tamper-evident log of license events,
and the explicit state machine that replays it into each device's status.
"""

from .codes import CodeRef
from .errors import InputRefused, LedgerError, NewerSchema, NotALedger, UnknownDevice
from .events import (
    ActivateNowClicked,
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
from .ledger import Ledger
from .views import Appended, BackupView, DeviceStatus, LicenseView, Outcome, TraceEntry
from .world import World

__all__ = [
    "ActivateNowClicked",
    "AppUpdated",
    "Appended",
    "BackupView",
    "CodeBlocked",
    "CodeEntered",
    "CodeIssued",
    "CodeRef",
    "ConsoleConnectionChanged",
    "DeviceRegistered",
    "DeviceStatus",
    "Event",
    "InputRefused",
    "Ledger",
    "LedgerError",
    "LicenseExpired",
    "LicenseRemoved",
    "LicenseView",
    "NewerSchema",
    "NotALedger",
    "Outcome",
    "TraceEntry",
    "TryAgainClicked",
    "UnknownDevice",
    "World",
]

__version__ = "0.1.0"

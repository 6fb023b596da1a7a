"""license-ledger: an append-only, tamper-evident log of license events,
and the explicit state machine that replays it into each device's status.
"""

from ._version import __version__
from .engine.codes import CodeRef
from .engine.events import (
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
from .engine.views import Appended, BackupView, DeviceStatus, LicenseView, Outcome, TraceEntry
from .engine.world import World
from .errors import (
    DamagedLedger,
    InputRefused,
    LedgerError,
    NeedsMigration,
    NewerSchema,
    NotALedger,
    UnknownDevice,
)
from .ledger import Ledger

__all__ = [
    "__version__",
    "ActivateNowClicked",
    "AppUpdated",
    "Appended",
    "BackupView",
    "CodeBlocked",
    "CodeEntered",
    "CodeIssued",
    "CodeRef",
    "DamagedLedger",
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
    "NeedsMigration",
    "NewerSchema",
    "NotALedger",
    "Outcome",
    "TraceEntry",
    "TryAgainClicked",
    "UnknownDevice",
    "World",
]

"""Plain words for the engine's vocabulary: the one table the inspector reads.

Every result, reason, state, backup state, action, event type and detail key
the engine can say (:mod:`license_ledger.engine.vocabulary`) has a phrase a
support engineer can read to a customer; the pages show it with the code
beside it. ``tests/test_inspector_words.py`` checks the table covers the
vocabulary exactly, so a new reason cannot reach a page without words.
"""

from __future__ import annotations

__all__ = ["WORDS", "words"]

#: (kind, code) -> plain words. Kinds: result, reason, state, backup, action, event, detail.
WORDS: dict[tuple[str, str], str] = {
    # Results: what an event did.
    ("result", "recorded"): "Recorded",
    ("result", "backup_added"): "Backup code added",
    ("result", "rejected"): "Code refused",
    ("result", "activated"): "License activated",
    ("result", "renewed"): "Renewed with the backup code",
    ("result", "renewal_failed"): "Renewal failed",
    ("result", "expired"): "License expired",
    ("result", "removed"): "License removed",
    ("result", "ignored"): "Nothing to do",
    ("result", "blocked"): "Code blocked",
    # Reasons: why it did not take effect.
    ("reason", "invalid_format"): "The code is not in the right format",
    ("reason", "unknown_code"): "No such code was ever issued",
    ("reason", "already_active"): "This code is already the license",
    ("reason", "backup_already_added"): "A backup code was already added",
    ("reason", "subscription_in_use"): "The license is a subscription",
    ("reason", "trial_not_allowed"): "A trial code cannot be a backup",
    ("reason", "code_blocked"): "The code is blocked",
    ("reason", "does_not_extend"): "The code would not extend the license",
    ("reason", "code_expired"): "The code has expired",
    ("reason", "incompatible_version"): "The application version does not fit the code",
    ("reason", "device_limit_reached"): "The code is in use on all the devices it allows",
    ("reason", "console_unreachable"): "The code needs the console, which is not connected",
    ("reason", "no_license"): "There was no license to remove",
    ("reason", "action_not_available"): "The button was not offered then",
    # States of a device.
    ("state", "unlicensed"): "No license",
    ("state", "active"): "Licensed",
    ("state", "expired"): "License expired",
    ("state", "blocked"): "License blocked",
    # States of a backup code.
    ("backup", "pending"): "Waiting to renew the license",
    ("backup", "activation_failed"): "Could not be activated",
    # The buttons the application shows.
    ("action", "try_again"): "Try again",
    ("action", "activate_now"): "Activate now",
    ("action", "remove_license"): "Remove license",
    # Event types.
    ("event", "CodeIssued"): "Code issued",
    ("event", "CodeBlocked"): "Code blocked by the vendor",
    ("event", "DeviceRegistered"): "Device registered",
    ("event", "AppUpdated"): "Application updated",
    ("event", "ConsoleConnectionChanged"): "Console connection changed",
    ("event", "LicenseExpired"): "License term ended",
    ("event", "CodeEntered"): "Code entered",
    ("event", "TryAgainClicked"): "Try again clicked",
    ("event", "ActivateNowClicked"): "Activate now clicked",
    ("event", "LicenseRemoved"): "License removed by the user",
    # The keys of a result's details (the "why").
    ("detail", "block_reason"): "Vendor's reason",
    ("detail", "code_expires_at"): "Code expires",
    ("detail", "license_expires_at"): "License expires",
    ("detail", "activation_at"): "Activation tried at",
    ("detail", "app_version"): "Application version",
    ("detail", "compatible_versions"): "Versions the code allows",
    ("detail", "max_devices"): "Devices the code allows",
    ("detail", "held_by"): "Seats held by",
    ("detail", "seats_held"): "Seats held",
    ("detail", "requires_console"): "Needs the console",
    ("detail", "connected"): "Console connected",
    ("detail", "blocked_devices"): "Devices blocked",
}

#: The kinds, in the order the table lists them.
KINDS = ("result", "reason", "state", "backup", "action", "event", "detail")


def words(kind: str, code: str | None) -> str:
    """The plain words for ``code``; the code itself if the table has none (never an error)."""
    if code is None:
        return ""
    return WORDS.get((kind, code), code)

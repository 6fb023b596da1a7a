"""The rules of docs/spec.md and of the vendor help page, one scenario per rule.

Docstrings quote the help page ("Renewing the active license using a new
activation code") where a test is about one of its paragraphs; the last
test checks that every paragraph is named by at least one test.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Iterator

import pytest

from license_ledger.engine.codes import CodeRef, seal_code
from license_ledger.engine.events import CodeEntered
from license_ledger.engine.replay import replay
from license_ledger.engine.snapshot import same_state
from license_ledger.engine.views import BackupView, DeviceStatus, LicenseView, Outcome
from scenario import START, Scenario, t

# Codes are told apart by their last five characters, which is all a status shows.
LICENSE = "AAAAA-BBBBB-CCCCC-00001"
NEW = "AAAAA-BBBBB-CCCCC-00002"
OTHER = "AAAAA-BBBBB-CCCCC-00003"
TRIAL = "AAAAA-BBBBB-CCCCC-00004"
SUBSCRIPTION = "AAAAA-BBBBB-CCCCC-00005"
NEVER_ISSUED = "AAAAA-BBBBB-CCCCC-99999"

ONE_YEAR_LATER = "2026-01-01T00:00:00Z"  # START + 365 days
TWO_YEARS_LATER = "2027-01-01T00:00:00Z"


def masked(code: str) -> str:
    return "*****-*****-*****-" + code[-5:]


def license_view(
    code: str,
    activated_at: str = START,
    expires_at: str = ONE_YEAR_LATER,
    kind: str = "commercial",
    provisional: bool = False,
) -> LicenseView:
    return LicenseView(
        code=masked(code),
        kind=kind,
        activated_at=t(activated_at),
        expires_at=t(expires_at),
        provisional=provisional,
    )


def backup_view(code: str, added_at: str, state: str = "pending", failure: str | None = None) -> BackupView:
    return BackupView(code=masked(code), state=state, added_at=t(added_at), failure=failure)


@pytest.fixture
def s() -> Iterator[Scenario]:
    scenario = Scenario()
    yield scenario
    # Whatever a test did, replaying the log it stored gives the same world.
    assert same_state(replay(scenario.log), scenario.world)


@pytest.fixture
def renewal(s: Scenario) -> Scenario:
    """The help page's situation: a laptop with an active license, a new code in hand."""
    s.issue(LICENSE)
    s.issue(NEW)
    s.register("laptop")
    assert s.enter("laptop", LICENSE) == Outcome("activated")
    s.later(days=100)
    return s


# --- the renewal case ---------------------------------------------------------


def test_a_new_code_becomes_the_backup_and_renews_the_license_when_it_expires(renewal: Scenario) -> None:
    """Renewing the active license using a new activation code.

    "If you have a new activation code, you can add it to the application to
    be used as a backup code. When the current license expires, the
    application is activated automatically with the new activation code."
    """
    s = renewal
    assert s.enter("laptop", NEW) == Outcome("backup_added")
    assert s.status("laptop") == DeviceStatus(
        device="laptop",
        as_of=t("2025-04-11T00:00:00Z"),
        state="active",
        license=license_view(LICENSE),
        backup=backup_view(NEW, "2025-04-11T00:00:00Z"),
        actions=["remove_license"],
    )
    s.until_expiry("laptop")
    assert s.tick() == {"laptop": Outcome("renewed")}
    assert s.status("laptop") == DeviceStatus(
        device="laptop",
        as_of=t(ONE_YEAR_LATER),
        state="active",
        license=license_view(NEW, activated_at=ONE_YEAR_LATER, expires_at=TWO_YEARS_LATER),
        backup=None,
        actions=["remove_license"],
    )
    assert s.seats("00001") == 0
    assert s.seats("00002") == 1


def test_the_steps_to_enter_a_code_are_one_event_and_the_code_is_shown_masked(renewal: Scenario) -> None:
    """ "To add a new activation code: ... enter the activation code and click
    the Save activation code button." and "The new activation code is
    displayed in the License details window."

    Enter activation code → Save is one CodeEntered. Input is normalised
    (space, hyphens, case), and only the last five characters are shown.
    """
    s = renewal
    assert s.enter("laptop", "  aaaaa bbbbb-ccccc-00002 ") == Outcome("backup_added")
    status = s.status("laptop")
    assert status.backup is not None
    assert status.backup.code == "*****-*****-*****-00002"
    assert s.log[-1] == CodeEntered(device="laptop", code=seal_code(NEW), at=t("2025-04-11T00:00:00Z"))


# --- "There are cases when you cannot add a new activation code." -------------


def test_a_malformed_code_is_stored_and_rejected_as_invalid_format(renewal: Scenario) -> None:
    """There are cases when you cannot add a new activation code: a mistyped one.

    A user's typing is not refused: it is stored (as a fingerprint with no
    tail) and rejected by the rules.
    """
    s = renewal
    assert s.enter("laptop", "AAAAA-BBBBB-CCCCC-0000") == Outcome("rejected", "invalid_format")
    stored = s.log[-1]
    assert isinstance(stored, CodeEntered)
    fingerprint = hashlib.sha256(b"AAAAABBBBBCCCCC0000").hexdigest()
    assert stored.code == CodeRef(sha256=fingerprint, tail="", well_formed=False)
    assert s.status("laptop").backup is None


def test_a_code_never_issued_is_rejected_as_unknown_code(renewal: Scenario) -> None:
    """There are cases when you cannot add a new activation code: one that does not exist."""
    assert renewal.enter("laptop", NEVER_ISSUED) == Outcome("rejected", "unknown_code")


def test_the_code_of_the_current_license_is_rejected_as_already_active(renewal: Scenario) -> None:
    """There are cases when you cannot add a new activation code: the one in use."""
    assert renewal.enter("laptop", LICENSE) == Outcome("rejected", "already_active")


def test_a_second_backup_is_rejected_as_backup_already_added(renewal: Scenario) -> None:
    """There are cases when you cannot add a new activation code: one is already added."""
    s = renewal
    s.issue(OTHER)
    assert s.enter("laptop", NEW) == Outcome("backup_added")
    assert s.enter("laptop", OTHER) == Outcome("rejected", "backup_already_added")
    assert s.status("laptop").backup == backup_view(NEW, "2025-04-11T00:00:00Z")


def test_a_subscription_license_takes_no_backup(s: Scenario) -> None:
    """There are cases when you cannot add a new activation code: a subscription renews itself."""
    s.issue(SUBSCRIPTION, kind="subscription")
    s.issue(NEW)
    s.register("laptop")
    s.enter("laptop", SUBSCRIPTION)
    assert s.enter("laptop", NEW) == Outcome("rejected", "subscription_in_use")


def test_a_trial_code_is_not_a_renewal(renewal: Scenario) -> None:
    """There are cases when you cannot add a new activation code: a trial."""
    s = renewal
    s.issue(TRIAL, kind="trial", term_days=30)
    assert s.enter("laptop", TRIAL) == Outcome("rejected", "trial_not_allowed")


def test_a_blocked_code_is_rejected_on_entry(renewal: Scenario) -> None:
    """There are cases when you cannot add a new activation code: the vendor blocked it."""
    s = renewal
    s.block(NEW, reason="refunded")
    assert s.enter("laptop", NEW) == Outcome("rejected", "code_blocked", {"block_reason": "refunded"})


def test_a_code_that_expires_no_later_than_the_license_does_not_extend_it(s: Scenario) -> None:
    """ "If the new activation code that you are adding has already been applied
    on this device or on another device, the activation date for the purpose
    of renewing the license using the new code is the date on which the
    application was activated with this code for the first time. To renew the
    license, add a new activation code that has an expiration date later than
    the expiration date of the license currently used by the application."
    """
    s.issue(LICENSE)
    s.issue(NEW, term_days=300, max_devices=2)
    s.issue(OTHER, term_days=365, max_devices=2)
    s.register("laptop")
    s.register("desktop")
    s.enter("desktop", NEW)  # first activated at START: expires START + 300 days
    s.remove("desktop")
    s.enter("desktop", OTHER)  # first activated at START: expires with the license
    s.enter("laptop", LICENSE)
    s.later(days=100)
    assert s.enter("laptop", NEW) == Outcome(
        "rejected",
        "does_not_extend",
        {"code_expires_at": "2025-10-28T00:00:00Z", "license_expires_at": ONE_YEAR_LATER},
    )
    # "later than": the same expiry does not extend either.
    assert s.enter("laptop", OTHER) == Outcome(
        "rejected",
        "does_not_extend",
        {"code_expires_at": ONE_YEAR_LATER, "license_expires_at": ONE_YEAR_LATER},
    )


def test_a_code_never_activated_always_extends(renewal: Scenario) -> None:
    """A code starts its term when it activates: even a short one extends the license."""
    s = renewal
    s.issue(OTHER, term_days=1)
    assert s.enter("laptop", OTHER) == Outcome("backup_added")


def test_the_entry_checks_run_in_spec_order(s: Scenario) -> None:
    """There are cases when you cannot add a new activation code; when several
    apply, the first of the specification's list is the reason: each check hides the ones
    after it.
    """
    blocked_trial, blocked, short, backup = (f"AAAAA-BBBBB-CCCCC-1000{n}" for n in range(4))
    s.issue(SUBSCRIPTION, kind="subscription", max_devices=10)
    s.issue(LICENSE, max_devices=10)
    s.issue(backup)
    s.issue(blocked_trial, kind="trial", term_days=30, max_devices=10)
    s.issue(blocked, term_days=30, max_devices=10)
    s.issue(short, term_days=30, max_devices=10)
    s.register("early")
    for code in (blocked_trial, blocked, short):  # activated at START: expire after 30 days
        assert s.enter("early", code) == Outcome("activated")
        assert s.remove("early") == Outcome("removed")
    s.block(blocked_trial)
    s.block(blocked)
    for device in ("with-backup", "sub", "commercial"):
        s.register(device)
    s.enter("with-backup", LICENSE)
    s.enter("with-backup", backup)
    s.enter("sub", SUBSCRIPTION)
    s.enter("commercial", LICENSE)

    # A malformed code is unknown too; the license's own code is no trial...
    assert s.enter("with-backup", "not a code").reason == "invalid_format"
    assert s.enter("with-backup", NEVER_ISSUED).reason == "unknown_code"
    assert s.enter("with-backup", LICENSE).reason == "already_active"
    # blocked_trial is a trial, blocked, and expires before any license here.
    assert s.enter("with-backup", blocked_trial).reason == "backup_already_added"
    assert s.enter("sub", blocked_trial).reason == "subscription_in_use"
    assert s.enter("commercial", blocked_trial).reason == "trial_not_allowed"
    assert s.enter("commercial", blocked).reason == "code_blocked"
    assert s.enter("commercial", short).reason == "does_not_extend"


# --- a blocked device ----------------------------------------------------------


def test_a_blocked_device_takes_a_backup_without_the_subscription_and_extension_checks(s: Scenario) -> None:
    """ "If the current license is blocked, you can activate the new activation
    code by clicking Activate now."

    On a blocked device, entry runs checks 1-4, 6 and 7: a code that would not
    extend the license, or a subscription license, does not stop it.
    """
    s.issue(SUBSCRIPTION, kind="subscription")
    s.issue(OTHER, term_days=30, max_devices=2)
    s.register("laptop")
    s.register("desktop")
    s.enter("desktop", OTHER)  # first activated at START, expires after 30 days
    s.enter("laptop", SUBSCRIPTION)
    s.later(days=10)
    assert s.block(SUBSCRIPTION, reason="chargeback") == Outcome(
        "blocked", None, {"blocked_devices": ["laptop"]}
    )
    assert s.enter("laptop", OTHER) == Outcome("backup_added")
    assert s.status("laptop").actions == ["activate_now", "remove_license"]
    assert s.activate_now("laptop") == Outcome("renewed")
    assert s.status("laptop") == DeviceStatus(
        device="laptop",
        as_of=t("2025-01-11T00:00:00Z"),
        state="active",
        license=license_view(OTHER, expires_at="2025-01-31T00:00:00Z"),
        backup=None,
        actions=["remove_license"],
    )


def test_a_blocked_device_still_rejects_bad_entries(s: Scenario) -> None:
    """There are cases when you cannot add a new activation code, blocked or not."""
    s.issue(LICENSE)
    s.issue(NEW)
    s.issue(OTHER)
    s.issue(TRIAL, kind="trial")
    s.register("laptop")
    s.enter("laptop", LICENSE)
    s.block(LICENSE)
    s.block(OTHER, reason="stolen")
    assert s.enter("laptop", "12345") == Outcome("rejected", "invalid_format")
    assert s.enter("laptop", NEVER_ISSUED) == Outcome("rejected", "unknown_code")
    # The blocked license's own code: already_active comes before code_blocked.
    assert s.enter("laptop", LICENSE) == Outcome("rejected", "already_active")
    assert s.enter("laptop", TRIAL) == Outcome("rejected", "trial_not_allowed")
    assert s.enter("laptop", OTHER) == Outcome("rejected", "code_blocked", {"block_reason": "stolen"})
    assert s.enter("laptop", NEW) == Outcome("backup_added")
    assert s.enter("laptop", OTHER) == Outcome("rejected", "backup_already_added")
    assert s.state("laptop") == "blocked"


# --- an unlicensed or expired device: entry activates at once -------------------


def test_entering_a_code_on_an_unlicensed_device_activates_it(s: Scenario) -> None:
    s.issue(LICENSE)
    s.register("laptop")
    assert s.status("laptop") == DeviceStatus(
        device="laptop", as_of=t(START), state="unlicensed", license=None, backup=None, actions=[]
    )
    s.later(days=2)
    assert s.enter("laptop", LICENSE) == Outcome("activated")
    assert s.status("laptop") == DeviceStatus(
        device="laptop",
        as_of=t("2025-01-03T00:00:00Z"),
        state="active",
        license=license_view(LICENSE, "2025-01-03T00:00:00Z", "2026-01-03T00:00:00Z"),
        backup=None,
        actions=["remove_license"],
    )


def test_an_unlicensed_device_rejects_malformed_and_unknown_codes(s: Scenario) -> None:
    s.register("laptop")
    assert s.enter("laptop", "AAAAA-BBBBB-CCCCC-0000!") == Outcome("rejected", "invalid_format")
    assert s.enter("laptop", NEVER_ISSUED) == Outcome("rejected", "unknown_code")
    assert s.state("laptop") == "unlicensed"


def test_entering_a_code_on_an_expired_device_activates_it(renewal: Scenario) -> None:
    s = renewal
    s.until_expiry("laptop")
    assert s.tick() == {"laptop": Outcome("expired")}
    s.later(days=3)
    assert s.enter("laptop", NEW) == Outcome("activated")
    assert s.status("laptop").license == license_view(NEW, "2026-01-04T00:00:00Z", "2027-01-04T00:00:00Z")


def test_activation_of_a_blocked_code_is_rejected(s: Scenario) -> None:
    s.issue(LICENSE)
    s.block(LICENSE)
    s.register("laptop")
    assert s.enter("laptop", LICENSE) == Outcome("rejected", "code_blocked", {"block_reason": None})


def test_activation_of_an_expired_code_is_rejected(s: Scenario) -> None:
    """The application verifies the expiration date of the new activation code."""
    s.issue(LICENSE, term_days=10, max_devices=3)
    s.register("first")
    s.register("just-in-time")
    s.register("too-late")
    s.enter("first", LICENSE)
    s.later(days=10, seconds=-1)
    assert s.enter("just-in-time", LICENSE) == Outcome("activated")
    assert s.status("just-in-time").license == license_view(LICENSE, START, "2025-01-11T00:00:00Z")
    s.later(seconds=1)  # expiry "at or before the moment of activation"
    assert s.enter("too-late", LICENSE) == Outcome(
        "rejected",
        "code_expired",
        {"code_expires_at": "2025-01-11T00:00:00Z", "activation_at": "2025-01-11T00:00:00Z"},
    )


def test_activation_on_an_incompatible_version_is_rejected(s: Scenario) -> None:
    """The application verifies the compatibility of the license with the installed version."""
    s.issue(LICENSE, compatible_versions=">=22,<23")
    s.register("laptop", app_version="21.3")
    assert s.enter("laptop", LICENSE) == Outcome(
        "rejected",
        "incompatible_version",
        {"app_version": "21.3", "compatible_versions": ">=22,<23"},
    )
    s.update_app("laptop", "22.1rc1")  # a prerelease inside the range counts
    assert s.enter("laptop", LICENSE) == Outcome("activated")


def test_activation_beyond_the_device_limit_is_rejected(s: Scenario) -> None:
    """The application verifies the maximum number of devices the license can be used on."""
    s.issue(LICENSE, max_devices=2)
    for device in ("b-laptop", "a-desktop", "phone"):
        s.register(device)
    s.enter("b-laptop", LICENSE)
    s.enter("a-desktop", LICENSE)
    assert s.enter("phone", LICENSE) == Outcome(
        "rejected", "device_limit_reached", {"max_devices": 2, "held_by": ["a-desktop", "b-laptop"]}
    )
    assert s.seats("00001") == 2


def test_activation_without_the_console_is_rejected_when_the_code_requires_it(s: Scenario) -> None:
    """ "During the activation of a new activation code, a connection to the
    ... Management Console account may be required."
    """
    s.issue(LICENSE, requires_console=True)
    s.issue(OTHER)
    s.register("laptop")
    s.register("desktop")
    s.connect("laptop", False)
    s.connect("desktop", False)
    assert s.enter("laptop", LICENSE) == Outcome(
        "rejected", "console_unreachable", {"requires_console": True, "connected": False}
    )
    assert s.enter("desktop", OTHER) == Outcome("activated")  # this code does not need it
    s.connect("laptop", True)
    assert s.enter("laptop", LICENSE) == Outcome("activated")


def test_the_activation_checks_run_in_spec_order(s: Scenario) -> None:
    """Each activation check hides the ones after it."""
    codes = [f"AAAAA-BBBBB-CCCCC-2000{n}" for n in range(5)]
    for n, code in enumerate(codes):
        # Each code: one seat, needs the console, only for version 22.
        s.issue(code, term_days=10, max_devices=1, requires_console=True, compatible_versions=">=22")
        s.register(f"holder-{n}", app_version="22.0")
    s.register("laptop", app_version="21.3")
    s.connect("laptop", False)
    # Codes 0 and 1 were activated at START (they expire after 10 days),
    # and code 0 is blocked too.
    s.enter("holder-0", codes[0])
    s.enter("holder-1", codes[1])
    s.block(codes[0])
    s.later(days=20)
    s.enter("holder-2", codes[2])
    s.enter("holder-3", codes[3])

    assert s.enter("laptop", codes[0]).reason == "code_blocked"
    assert s.enter("laptop", codes[1]).reason == "code_expired"
    assert s.enter("laptop", codes[2]).reason == "incompatible_version"
    s.update_app("laptop", "22.1")
    assert s.enter("laptop", codes[3]).reason == "device_limit_reached"
    assert s.enter("laptop", codes[4]).reason == "console_unreachable"


def test_a_failed_backup_is_discarded_when_an_entered_code_activates(renewal: Scenario) -> None:
    """If a failed backup was present and the activation succeeds, the backup is discarded."""
    s = renewal
    s.issue(OTHER)
    s.enter("laptop", NEW)
    s.block(NEW, reason="refunded")
    s.until_expiry("laptop")
    assert s.tick() == {"laptop": Outcome("renewal_failed", "code_blocked", {"block_reason": "refunded"})}
    assert s.enter("laptop", NEVER_ISSUED) == Outcome("rejected", "unknown_code")
    assert s.status("laptop").backup == backup_view(
        NEW, "2025-04-11T00:00:00Z", "activation_failed", "code_blocked"
    )
    assert s.enter("laptop", OTHER) == Outcome("activated")
    assert s.status("laptop").backup is None


# --- the license expires ---------------------------------------------------------


def test_a_license_without_backup_expires(renewal: Scenario) -> None:
    s = renewal
    s.until_expiry("laptop")
    assert s.expire("laptop") == Outcome("expired")
    assert s.status("laptop") == DeviceStatus(
        device="laptop",
        as_of=t(ONE_YEAR_LATER),
        state="expired",
        license=license_view(LICENSE),
        backup=None,
        actions=["remove_license"],
    )
    assert s.seats("00001") == 0


def test_a_backup_that_cannot_activate_leaves_the_license_expired(renewal: Scenario) -> None:
    """ "An attempt to activate and fully verify the new code will be made when
    the current license expires, or if the current license is removed from
    the device."

    The license ends first (its seat is freed), then the backup is tried.
    """
    s = renewal
    s.register("desktop")
    assert s.enter("laptop", NEW) == Outcome("backup_added")
    assert s.enter("desktop", NEW) == Outcome("activated")  # NEW has one seat
    s.until_expiry("laptop")
    assert s.tick() == {
        "laptop": Outcome(
            "renewal_failed", "device_limit_reached", {"max_devices": 1, "held_by": ["desktop"]}
        )
    }
    assert s.status("laptop") == DeviceStatus(
        device="laptop",
        as_of=t(ONE_YEAR_LATER),
        state="expired",
        license=license_view(LICENSE),
        backup=backup_view(NEW, "2025-04-11T00:00:00Z", "activation_failed", "device_limit_reached"),
        actions=["try_again", "remove_license"],
    )
    assert s.seats("00001") == 0


def test_a_tick_expires_every_due_license_and_only_those(s: Scenario) -> None:
    s.issue(LICENSE, term_days=10)
    s.issue(OTHER, term_days=20)
    s.register("laptop")
    s.register("desktop")
    s.enter("laptop", LICENSE)
    s.enter("desktop", OTHER)
    s.later(days=9)
    assert s.tick() == {}
    s.later(days=1)
    assert s.tick() == {"laptop": Outcome("expired")}
    s.later(days=30)
    assert s.tick() == {"desktop": Outcome("expired")}


# --- the license is removed ------------------------------------------------------


def test_removing_a_license_without_backup_frees_its_seat(renewal: Scenario) -> None:
    s = renewal
    s.register("desktop")
    assert s.remove("laptop") == Outcome("removed")
    assert s.status("laptop") == DeviceStatus(
        device="laptop",
        as_of=t("2025-04-11T00:00:00Z"),
        state="unlicensed",
        license=None,
        backup=None,
        actions=[],
    )
    assert s.enter("desktop", LICENSE) == Outcome("activated")  # the one seat is free again
    assert s.status("desktop").license == license_view(LICENSE)


def test_removing_a_license_activates_the_backup(renewal: Scenario) -> None:
    """An attempt to activate the new code is made if the current license is removed from the device."""
    s = renewal
    s.enter("laptop", NEW)
    s.later(days=1)
    assert s.remove("laptop") == Outcome("renewed")
    assert s.status("laptop").license == license_view(NEW, "2025-04-12T00:00:00Z", "2026-04-12T00:00:00Z")
    assert s.seats("00001") == 0


def test_removing_a_license_whose_backup_fails_leaves_the_device_unlicensed(renewal: Scenario) -> None:
    s = renewal
    s.issue(OTHER, requires_console=True)
    s.enter("laptop", OTHER)
    s.connect("laptop", False)
    assert s.remove("laptop") == Outcome(
        "renewal_failed", "console_unreachable", {"requires_console": True, "connected": False}
    )
    assert s.status("laptop") == DeviceStatus(
        device="laptop",
        as_of=t("2025-04-11T00:00:00Z"),
        state="unlicensed",
        license=None,
        backup=backup_view(OTHER, "2025-04-11T00:00:00Z", "activation_failed", "console_unreachable"),
        actions=["try_again"],
    )
    assert s.seats("00001") == 0


def test_removing_an_expired_or_blocked_license(s: Scenario) -> None:
    s.issue(LICENSE, term_days=10, max_devices=2)
    s.register("laptop")
    s.register("desktop")
    s.enter("laptop", LICENSE)
    s.enter("desktop", LICENSE)
    s.block(LICENSE)
    assert s.seats("00001") == 2  # blocked licenses hold their seats
    assert s.remove("desktop") == Outcome("removed")
    assert s.seats("00001") == 1
    assert s.remove("laptop") == Outcome("removed")
    assert s.seats("00001") == 0
    s.issue(OTHER, term_days=10)
    s.enter("laptop", OTHER)
    s.later(days=10)
    assert s.tick() == {"laptop": Outcome("expired")}
    assert s.remove("laptop") == Outcome("removed")
    assert s.state("laptop") == "unlicensed"


def test_removing_when_there_is_no_license_is_ignored(s: Scenario) -> None:
    s.issue(LICENSE)
    s.register("laptop")
    assert s.remove("laptop") == Outcome("ignored", "no_license")
    s.enter("laptop", LICENSE)
    assert s.remove("laptop") == Outcome("removed")
    assert s.remove("laptop") == Outcome("ignored", "no_license")


# --- Try again and Activate now ---------------------------------------------------


def test_try_again_activates_a_backup_that_failed(renewal: Scenario) -> None:
    """ "If the application did not automatically activate with a new activation
    code, you can activate it manually by clicking the Try again button."
    """
    s = renewal
    s.issue(OTHER, compatible_versions=">=22")
    s.enter("laptop", OTHER)
    s.until_expiry("laptop")
    assert s.expire("laptop") == Outcome(
        "renewal_failed", "incompatible_version", {"app_version": "21.3", "compatible_versions": ">=22"}
    )
    s.later(hours=2)
    s.update_app("laptop", "22.0")
    assert s.try_again("laptop") == Outcome("renewed")
    assert s.status("laptop") == DeviceStatus(
        device="laptop",
        as_of=t("2026-01-01T02:00:00Z"),
        state="active",
        license=license_view(OTHER, "2026-01-01T02:00:00Z", "2027-01-01T02:00:00Z"),
        backup=None,
        actions=["remove_license"],
    )


def test_try_again_that_fails_again_reports_the_new_reason(renewal: Scenario) -> None:
    s = renewal
    s.issue(OTHER, compatible_versions=">=22", requires_console=True)
    s.enter("laptop", OTHER)
    s.until_expiry("laptop")
    assert s.expire("laptop").reason == "incompatible_version"
    s.update_app("laptop", "22.0")
    s.connect("laptop", False)
    assert s.try_again("laptop") == Outcome(
        "renewal_failed", "console_unreachable", {"requires_console": True, "connected": False}
    )
    assert s.status("laptop").backup == backup_view(
        OTHER, "2025-04-11T00:00:00Z", "activation_failed", "console_unreachable"
    )
    assert s.state("laptop") == "expired"


def test_try_again_is_available_only_for_a_failed_backup_on_a_device_not_blocked(s: Scenario) -> None:
    s.issue(LICENSE)
    s.issue(NEW, requires_console=True)
    s.register("laptop")
    not_available = Outcome("ignored", "action_not_available")
    assert s.try_again("laptop") == not_available  # unlicensed, no backup
    s.enter("laptop", LICENSE)
    assert s.try_again("laptop") == not_available  # active, no backup
    s.enter("laptop", NEW)
    assert s.try_again("laptop") == not_available  # active, backup pending
    s.block(LICENSE)
    s.connect("laptop", False)
    assert s.activate_now("laptop").result == "renewal_failed"
    assert s.status("laptop").backup == backup_view(NEW, START, "activation_failed", "console_unreachable")
    assert s.status("laptop").actions == ["activate_now", "remove_license"]
    assert s.try_again("laptop") == not_available  # blocked, backup failed


def test_activate_now_on_a_blocked_device_whose_backup_fails(s: Scenario) -> None:
    """If the current license is blocked, you can activate the new activation code
    by clicking Activate now; when that fails the device stays blocked.
    """
    s.issue(LICENSE)
    s.issue(NEW, compatible_versions="<21")
    s.register("laptop")
    s.enter("laptop", LICENSE)
    s.enter("laptop", NEW)
    s.block(LICENSE)
    assert s.activate_now("laptop") == Outcome(
        "renewal_failed", "incompatible_version", {"app_version": "21.3", "compatible_versions": "<21"}
    )
    assert s.status("laptop") == DeviceStatus(
        device="laptop",
        as_of=t(START),
        state="blocked",
        license=license_view(LICENSE, provisional=True),
        backup=backup_view(NEW, START, "activation_failed", "incompatible_version"),
        actions=["activate_now", "remove_license"],
    )
    assert s.seats("00001") == 1  # still held: the license is blocked, not removed


def test_activate_now_is_available_only_on_a_blocked_device_with_a_backup(s: Scenario) -> None:
    s.issue(LICENSE)
    s.issue(NEW)
    s.issue(OTHER)
    s.issue(TRIAL, kind="trial", term_days=10)
    for device in ("laptop", "desktop", "phone"):
        s.register(device)
    not_available = Outcome("ignored", "action_not_available")
    assert s.activate_now("laptop") == not_available  # unlicensed
    s.enter("laptop", LICENSE)
    s.enter("laptop", NEW)
    assert s.activate_now("laptop") == not_available  # active, backup pending
    s.enter("desktop", OTHER)
    s.block(OTHER)
    assert s.activate_now("desktop") == not_available  # blocked, no backup
    s.enter("phone", TRIAL)
    s.later(days=10)
    assert s.tick() == {"phone": Outcome("expired")}
    assert s.activate_now("phone") == not_available  # expired


# --- the vendor blocks a code ----------------------------------------------------


def test_blocking_a_code_blocks_only_its_active_licenses(s: Scenario) -> None:
    """A blocked license does not switch to its backup by itself: the user
    clicks Activate now. A backup that is the blocked code fails when tried.
    """
    s.issue(LICENSE, max_devices=4)
    s.issue(NEW)
    s.issue(TRIAL, kind="trial", term_days=10)
    for device in ("active-with-backup", "active", "expired", "removed"):
        s.register(device)
    s.enter("active-with-backup", LICENSE)
    s.enter("active-with-backup", NEW)
    s.enter("active", LICENSE)
    s.enter("removed", LICENSE)
    s.remove("removed")
    s.enter("expired", TRIAL)
    s.later(days=10)
    assert s.tick() == {"expired": Outcome("expired")}
    s.block(TRIAL)
    assert s.state("expired") == "expired"

    assert s.block(LICENSE, reason="chargeback") == Outcome(
        "blocked", None, {"blocked_devices": ["active", "active-with-backup"]}
    )
    assert [s.state(d) for d in ("active-with-backup", "active", "removed")] == [
        "blocked",
        "blocked",
        "unlicensed",
    ]
    status = s.status("active-with-backup")
    assert status.backup == backup_view(NEW, START)
    assert status.actions == ["activate_now", "remove_license"]
    assert s.block(LICENSE) == Outcome("blocked", None, {"blocked_devices": []})


def test_a_backup_that_is_the_blocked_code_fails_when_activated(renewal: Scenario) -> None:
    s = renewal
    s.enter("laptop", NEW)
    assert s.block(NEW, reason="refunded") == Outcome("blocked", None, {"blocked_devices": []})
    assert s.state("laptop") == "active"
    s.until_expiry("laptop")
    assert s.tick() == {"laptop": Outcome("renewal_failed", "code_blocked", {"block_reason": "refunded"})}
    assert s.status("laptop").backup == backup_view(
        NEW, "2025-04-11T00:00:00Z", "activation_failed", "code_blocked"
    )


# --- a code on several devices -----------------------------------------------------


def test_a_code_for_several_devices_must_be_entered_on_each(s: Scenario) -> None:
    """ "If you enter a new activation code that was issued for multiple devices,
    you must follow the steps to apply the new code on all devices where you
    want to renew the license automatically."
    """
    s.issue(LICENSE, max_devices=2)
    s.issue(NEW, max_devices=2)
    s.register("laptop")
    s.register("desktop")
    s.enter("laptop", LICENSE)
    s.enter("desktop", LICENSE)
    assert s.enter("laptop", NEW) == Outcome("backup_added")
    assert s.status("desktop").backup is None
    s.until_expiry("laptop")
    assert s.tick() == {"laptop": Outcome("renewed"), "desktop": Outcome("expired")}
    s.later(days=5)
    assert s.enter("desktop", NEW) == Outcome("activated")
    # The code's term started on its first activation, on the laptop.
    assert (
        s.status("desktop").license
        == s.status("laptop").license
        == license_view(NEW, ONE_YEAR_LATER, TWO_YEARS_LATER)
    )


def test_every_device_shares_the_first_activation_date_of_a_code(s: Scenario) -> None:
    """The activation date is the date on which the application was activated
    with this code for the first time, on this device or on another device.
    """
    s.issue(LICENSE)
    s.issue(NEW, max_devices=2)
    s.register("laptop")
    s.register("desktop")
    s.enter("laptop", LICENSE)
    s.later(days=30)
    s.enter("desktop", NEW)  # NEW's term starts here: expires START + 395 days
    s.later(days=70)
    assert s.enter("laptop", NEW) == Outcome("backup_added")  # it extends the license
    s.until_expiry("laptop")
    assert s.tick() == {"laptop": Outcome("renewed")}
    expected = license_view(NEW, "2025-01-31T00:00:00Z", "2026-01-31T00:00:00Z")
    assert s.status("laptop").license == s.status("desktop").license == expected


# --- the status -------------------------------------------------------------------


def test_the_status_is_provisional_for_24_hours_after_purchase(s: Scenario) -> None:
    """ "It can take up to 24 hours after purchase before the correct license
    status is displayed."
    """
    s.issue(LICENSE)  # purchased_at: when issued
    s.issue(NEW, purchased_at="2024-12-31T12:00:00Z")
    s.register("laptop")
    s.register("desktop")
    s.later(hours=1)
    s.enter("laptop", LICENSE)
    s.enter("desktop", NEW)
    for as_of, laptop, desktop in [
        ("2025-01-01T01:00:00Z", True, True),
        ("2025-01-01T11:59:59Z", True, True),
        ("2025-01-01T12:00:00Z", True, False),
        ("2025-01-01T23:59:59Z", True, False),
        ("2025-01-02T00:00:00Z", False, False),
    ]:
        assert (
            s.status("laptop", t(as_of)).license.provisional,
            s.status("desktop", t(as_of)).license.provisional,
        ) == (laptop, desktop), as_of


# --- the help page, paragraph by paragraph ------------------------------------------

HELP_PAGE_PARAGRAPHS = [
    "Renewing the active license using a new activation code",
    "If you have a new activation code, you can add it to the application to be used as a backup code.",
    "There are cases when you cannot add a new activation code",
    "To add a new activation code:",
    "The new activation code is displayed in the License details window.",
    "If you enter a new activation code that was issued for multiple devices",
    "An attempt to activate and fully verify the new code will be made when the current license expires",
    "The application verifies the expiration date of the new activation code",
    "The application verifies the maximum number of devices",
    "The application verifies the compatibility of the license with the installed version",
    "During the activation of a new activation code, a connection to the",
    "If the new activation code that you are adding has already been applied on this device or on another device",
    "To renew the license, add a new activation code that has an expiration date later than",
    "If the application did not automatically activate with a new activation code",
    "If the current license is blocked, you can activate the new activation code by clicking Activate now",
    "It can take up to 24 hours after purchase before the correct license status is displayed.",
]


def test_every_paragraph_of_the_help_page_is_named_by_a_test() -> None:
    docstrings = [
        " ".join((f.__doc__ or "").split())
        for name, f in vars(sys.modules[__name__]).items()
        if name.startswith("test_") and callable(f)
    ]
    unnamed = [p for p in HELP_PAGE_PARAGRAPHS if not any(p in re.sub(r'"', "", d) for d in docstrings)]
    assert unnamed == []

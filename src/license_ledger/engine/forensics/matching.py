"""What ``first`` looks for in a device's stored statuses."""

from __future__ import annotations

import msgspec

from ..views import StoredStatus

__all__ = ["Wanted"]


class Wanted(msgspec.Struct, frozen=True):
    """The conditions a status (and the event that led to it) must all meet; None: any."""

    state: str | None = None
    backup_state: str | None = None
    action: str | None = None
    result: str | None = None
    reason: str | None = None

    @property
    def needs_status(self) -> bool:
        """True when the status itself must be read (not only the indexed state and result)."""
        return self.backup_state is not None or self.action is not None

    def matches(self, status: StoredStatus) -> bool:
        """Whether the status meets the conditions on the backup and the buttons.

        The state, the result and the reason are matched by the store's
        indexed read; this checks what only the whole status holds.
        """
        if self.backup_state is not None and (
            status.backup is None or status.backup.state != self.backup_state
        ):
            return False
        return self.action is None or self.action in status.actions

    def describe(self) -> str:
        """The conditions as a person reads them: ``state blocked``, ``result renewal_failed``."""
        parts = [
            f"{label} {value}"
            for label, value in (
                ("state", self.state),
                ("backup state", self.backup_state),
                ("action", self.action),
                ("result", self.result),
                ("reason", self.reason),
            )
            if value is not None
        ]
        return ", ".join(parts)

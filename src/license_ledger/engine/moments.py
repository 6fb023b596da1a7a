"""Time in license-ledger: RFC 3339 in, UTC with ``Z`` out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["DAY", "format_time", "parse_time", "sortable_time", "utc_now"]

DAY = timedelta(days=1)


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (``Z`` or an offset) into an aware UTC datetime.

    Raises ``ValueError`` naming what was expected and what was found.
    """
    candidate = text.strip()
    if candidate.endswith(("z", "Z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(candidate)
    except ValueError:
        raise ValueError(
            f"expected an RFC 3339 timestamp such as 2026-01-31T12:00:00Z, found {text!r}"
        ) from None
    if value.tzinfo is None:
        raise ValueError(f"expected an RFC 3339 timestamp with Z or an offset, found {text!r} (no time zone)")
    return value.astimezone(UTC)


def format_time(value: datetime) -> str:
    """Format an aware datetime as RFC 3339 in UTC with a ``Z``."""
    text = value.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def utc_now() -> datetime:
    """The wall clock, in UTC. Only the store calls it; replay never does."""
    return datetime.now(UTC)


def sortable_time(value: datetime) -> str:
    """Fixed-width UTC text (always microseconds), so that text order is time order."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")[:-6] + "Z"

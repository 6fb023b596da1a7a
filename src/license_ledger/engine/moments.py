"""Time in license-ledger: RFC 3339 in, UTC with ``Z`` out, within bounds.

Every moment that comes in (an event's ``at`` or ``purchased_at``, an
``--as-of``, a tick's ``now``, a query's ``as_of``) passes :func:`moment`,
the one parser of the project: strict RFC 3339 with a ``Z`` or an offset,
between :data:`EARLIEST` and :data:`LATEST`. The bounds keep every derived
moment (an expiry is at most 36,500 days after an activation) inside what a
``datetime`` can hold, so no computation downstream can overflow.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import msgspec

from ..errors import InputRefused

__all__ = [
    "DAY",
    "EARLIEST",
    "LATEST",
    "check_moment",
    "format_time",
    "moment",
    "parse_moment",
    "sortable_time",
    "utc_now",
]

DAY = timedelta(days=1)
#: The earliest moment license-ledger accepts.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
#: The first moment it no longer accepts (so that expiries stay below year 9999).
LATEST = datetime(9000, 1, 1, tzinfo=UTC)

_time_json = msgspec.json.Encoder().encode
_EXPECTED = "an RFC 3339 timestamp such as 2026-01-31T12:00:00Z"
_BOUNDS = "a moment from 1970-01-01T00:00:00Z to before 9000-01-01T00:00:00Z"
# ASCII digits only: `\d` would also take other scripts' digits.
_RFC3339 = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ](?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]{1,9}))?(?P<zone>[Zz]|[+-][0-9]{2}:[0-9]{2})?"
)


def parse_moment(text: str, *, field: str) -> datetime:
    """Parse RFC 3339 text into an aware UTC datetime, or refuse it naming ``field``."""
    shown = repr(text) if len(text) <= 60 else repr(text[:57]) + "..."
    found = _RFC3339.fullmatch(text.strip())
    if found is None:
        raise InputRefused(_EXPECTED, shown, field=field)
    if found["zone"] is None:
        raise InputRefused(f"{_EXPECTED} (with Z or an offset)", f"{shown} (no time zone)", field=field)
    zone = "+00:00" if found["zone"] in "Zz" else found["zone"]
    # Python keeps microseconds: further digits are dropped, not rounded.
    fraction = "." + (found["fraction"] or "")[:6].ljust(6, "0")
    try:
        value = datetime.fromisoformat(f"{found['date']}T{found['time']}{fraction}{zone}")
    except ValueError:
        raise InputRefused(f"{_EXPECTED} (a real date and time)", shown, field=field) from None
    return check_moment(value, field=field)


def check_moment(value: datetime, *, field: str) -> datetime:
    """An aware datetime within the bounds, in UTC; else refused naming ``field``."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputRefused(
            f"{_EXPECTED} (with Z or an offset)", f"{value.isoformat()} (no time zone)", field=field
        )
    # Compared before converting: astimezone() itself overflows at the ends of the calendar.
    if not EARLIEST <= value < LATEST:
        raise InputRefused(_BOUNDS, value.isoformat(), field=field)
    return value.astimezone(UTC)


def moment(value: datetime | str | None, *, field: str) -> datetime | None:
    """A moment given as RFC 3339 text or as a datetime, checked; ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse_moment(value, field=field)
    if isinstance(value, datetime):
        return check_moment(value, field=field)
    raise InputRefused(_EXPECTED, f"a {type(value).__name__}", field=field)


def format_time(value: datetime) -> str:
    """Format an aware datetime as RFC 3339 in UTC with a ``Z``."""
    text = value.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def utc_now() -> datetime:
    """The wall clock, in UTC. Only the store and the service call it; replay never does."""
    return datetime.now(UTC)


def sortable_time(value: datetime) -> str:
    """Fixed-width UTC text (always microseconds), so that text order is time order."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # msgspec writes RFC 3339 with a Z, and six digits of microseconds unless
    # they are zero: five times quicker than isoformat, on every event stored.
    text = _time_json(value)
    if len(text) == 29:
        return text[1:-1].decode()
    return value.isoformat(timespec="microseconds")[:-6] + "Z"

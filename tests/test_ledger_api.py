"""Small promises of the embedded API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from license_ledger import InputRefused, Ledger


def test_moments_are_taken_in_any_offset_and_answered_in_utc(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        ledger.append(
            [{"type": "DeviceRegistered", "at": "2026-01-01T00:00:00Z", "device": "a", "app_version": "1"}]
        )
        paris = datetime(2026, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
        assert ledger.status("a", paris).as_of == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
        assert ledger.status("a", paris).as_of.tzinfo is UTC
        assert ledger.status("a", "2026-01-01T01:00:00+01:00").as_of.tzinfo is UTC
        with pytest.raises(InputRefused, match="no time zone"):
            ledger.status("a", datetime(2026, 1, 1))

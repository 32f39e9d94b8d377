"""Raw stored times read back for the audit (`ledger.stored_times`): what a driver would
give for a value it can read, `UnreadableTimeError` and nothing else for one it cannot."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from ledger.stored_times import UnreadableTimeError, readable_date, readable_time


def test_epoch_seconds_read_as_the_same_utc_instant_to_the_microsecond() -> None:
    moment = datetime(2026, 11, 23, 3, 0, 0, 123456, tzinfo=UTC)
    raw = Decimal("1795402800.123456")
    assert readable_time(raw) == moment
    assert readable_time(b"2026-11-23 03:00:00.123456") == moment
    assert readable_time(b"2026-11-23 10:00:00.123456+07:00") == moment
    assert readable_time(None) is None


def test_epoch_days_and_iso_text_read_as_the_same_date() -> None:
    assert readable_date(Decimal("1795392000")) == date(2026, 11, 23)
    assert readable_date(b"2026-11-23") == date(2026, 11, 23)


@pytest.mark.parametrize(
    "raw",
    [
        Decimal("Infinity"),
        Decimal("-Infinity"),
        Decimal("NaN"),
        Decimal("1.0000001"),
        Decimal("253402300800"),
        Decimal("-62135596801"),
        Decimal("1e999999"),
        b"garbage",
        b"\xff",
        b"",
        0,
        "2026-11-23 03:00:00",
    ],
)
def test_a_value_no_driver_reads_as_a_time_is_unreadable(raw: object) -> None:
    with pytest.raises(UnreadableTimeError):
        readable_time(raw)


@pytest.mark.parametrize(
    "raw",
    [
        Decimal("Infinity"),
        Decimal("43200"),
        Decimal("253402300800"),
        Decimal("-62135683200"),
        Decimal("1e999999"),
        b"2026-11-23 03:00:00",
        b"garbage",
        None,
        0,
    ],
)
def test_a_value_no_driver_reads_as_a_date_is_unreadable(raw: object) -> None:
    with pytest.raises(UnreadableTimeError):
        readable_date(raw)

"""Settlement windows in Asia/Jakarta (UTC+7, no daylight saving): pure, no clock.

Window D holds [cut-off of D-1, cut-off of D). With the default cut-off the window is the
local calendar day; with a 23:00 cut-off, 23:00 local already belongs to the next day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfoNotFoundError

import pytest

from interchange.window import WindowCalendar

JAKARTA = timezone(timedelta(hours=7))
MIDNIGHT = WindowCalendar()
ELEVEN_PM = WindowCalendar(cutoff_s=23 * 3600)
TICK = timedelta(microseconds=1)
D = date(2026, 11, 23)


def local(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=JAKARTA)


# Midnight (the default)


def test_the_default_window_is_the_local_calendar_day() -> None:
    assert MIDNIGHT.window_date(local(D, 0)) == D
    assert MIDNIGHT.window_date(local(D, 23, 59, 59)) == D
    assert MIDNIGHT.window_date(local(D, 23, 59, 59) + timedelta(seconds=1)) == D + timedelta(1)


def test_the_default_cut_off_is_local_midnight_which_is_five_pm_utc() -> None:
    assert MIDNIGHT.cutoff_at(D) == datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
    assert MIDNIGHT.opens_at(D) == datetime(2026, 11, 22, 17, 0, tzinfo=UTC)


def test_a_utc_moment_after_five_pm_belongs_to_the_next_local_day() -> None:
    assert MIDNIGHT.window_date(datetime(2026, 11, 23, 16, 59, 59, tzinfo=UTC)) == D
    assert MIDNIGHT.window_date(datetime(2026, 11, 23, 17, 0, tzinfo=UTC)) == D + timedelta(1)


# 23:00


def test_with_an_eleven_pm_cut_off_the_last_hour_belongs_to_the_next_window() -> None:
    assert ELEVEN_PM.window_date(local(D, 22, 59, 59)) == D
    assert ELEVEN_PM.window_date(local(D, 23)) == D + timedelta(1)
    assert ELEVEN_PM.window_date(local(D, 23, 59, 59)) == D + timedelta(1)
    assert ELEVEN_PM.window_date(local(D, 0)) == D


def test_with_an_eleven_pm_cut_off_the_window_opens_at_eleven_pm_the_day_before() -> None:
    assert ELEVEN_PM.cutoff_at(D) == local(D, 23)
    assert ELEVEN_PM.opens_at(D) == local(D - timedelta(1), 23)
    assert ELEVEN_PM.cutoff_at(D) == datetime(2026, 11, 23, 16, 0, tzinfo=UTC)


# Consistency at the boundaries


@pytest.mark.parametrize("calendar", [MIDNIGHT, ELEVEN_PM, WindowCalendar(cutoff_s=1)])
@pytest.mark.parametrize(
    "day", [date(2026, 1, 1), date(2026, 2, 28), date(2028, 2, 29), date(2026, 12, 31)]
)
def test_a_window_runs_from_its_opening_up_to_but_not_including_its_cut_off(
    calendar: WindowCalendar, day: date
) -> None:
    opens, cutoff = calendar.opens_at(day), calendar.cutoff_at(day)
    assert cutoff - opens == timedelta(days=1)
    assert calendar.window_date(opens) == day
    assert calendar.window_date(opens - TICK) == day - timedelta(1)
    assert calendar.window_date(cutoff - TICK) == day
    assert calendar.window_date(cutoff) == day + timedelta(1)
    assert calendar.opens_at(day + timedelta(1)) == cutoff


def test_the_window_of_a_moment_does_not_depend_on_the_zone_it_is_written_in() -> None:
    moment = datetime(2026, 11, 23, 16, 30, tzinfo=UTC)
    tokyo = moment.astimezone(timezone(timedelta(hours=9)))
    new_york = moment.astimezone(timezone(timedelta(hours=-5)))
    windows = {ELEVEN_PM.window_date(m) for m in (moment, tokyo, new_york)}
    assert windows == {D + timedelta(1)}


# Bad calendars and moments


@pytest.mark.parametrize("cutoff_s", [0, -1, 86_401])
def test_a_cut_off_outside_the_day_is_a_programmer_error(cutoff_s: int) -> None:
    with pytest.raises(AssertionError):
        WindowCalendar(cutoff_s=cutoff_s)


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ZoneInfoNotFoundError):
        WindowCalendar(time_zone="Nowhere/Atlantis")


def test_a_naive_moment_is_a_programmer_error() -> None:
    with pytest.raises(AssertionError):
        MIDNIGHT.window_date(datetime(2026, 11, 23, 12, 0))

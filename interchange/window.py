"""Settlement windows: which business day's window a moment belongs to.

Window D holds every payment whose commit moment falls in [cut-off of D-1, cut-off of D),
where the cut-off of D is D's local midnight in the network's time zone plus `cutoff_s`
seconds (86,400 by default: the window is the local calendar day). The rule depends only
on the moment, never on when a close runs. Pure; no clock.

The time zone must keep one UTC offset (`keeps_one_offset`; Indonesia's three zones do):
where clocks go back an hour, the moments of the repeated hour after a cut-off read as
before it, and would fall back into the window just closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["DEFAULT_TIME_ZONE", "WindowCalendar", "keeps_one_offset"]

DEFAULT_TIME_ZONE = "Asia/Jakarta"
_DAY_S = 86_400
# How far ahead `keeps_one_offset` looks, a day at a time.
_OFFSET_DAYS_AHEAD = 3 * 366


def keeps_one_offset(time_zone: str, since: date) -> bool:
    """Whether `time_zone` (an IANA name) has the same UTC offset at noon of every day
    from `since` for about three years: no daylight saving time, no change announced."""
    zone = ZoneInfo(time_zone)
    start = datetime(since.year, since.month, since.day, 12, tzinfo=zone)
    offsets = {(start + timedelta(days=n)).utcoffset() for n in range(_OFFSET_DAYS_AHEAD)}
    return len(offsets) == 1


@dataclass(frozen=True, slots=True)
class WindowCalendar:
    """The network's time zone and daily cut-off (seconds after local midnight, 1..86400)."""

    time_zone: str = DEFAULT_TIME_ZONE
    cutoff_s: int = _DAY_S

    def __post_init__(self) -> None:
        assert 1 <= self.cutoff_s <= _DAY_S, "the cut-off falls within the day"
        ZoneInfo(self.time_zone)

    def window_date(self, moment: datetime) -> date:
        """The business date of the window that `moment` belongs to."""
        assert moment.tzinfo is not None, "moments are UTC-aware"
        local = moment.astimezone(ZoneInfo(self.time_zone))
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        elapsed_s = (local - midnight).total_seconds()
        return local.date() if elapsed_s < self.cutoff_s else local.date() + timedelta(days=1)

    def cutoff_at(self, window_date: date) -> datetime:
        """The first moment that no longer belongs to `window_date`'s window."""
        zone = ZoneInfo(self.time_zone)
        midnight = datetime(window_date.year, window_date.month, window_date.day, tzinfo=zone)
        return midnight + timedelta(seconds=self.cutoff_s)

    def opens_at(self, window_date: date) -> datetime:
        """The first moment that belongs to `window_date`'s window."""
        return self.cutoff_at(window_date - timedelta(days=1))

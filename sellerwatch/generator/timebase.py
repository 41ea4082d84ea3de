"""Local time of the generated range (Asia/Shanghai by default) and the diurnal order curve.

Day ``i`` is the ``i``-th local calendar day from the start date; ``starts[i]`` is the epoch-ms
instant of its local midnight (from :class:`streams.calendar.Calendar`, so the generator and the
engine agree on every day boundary). The list runs past the generated range by the longest
follow-up an order can have, so any follow-up instant maps to its day with one ``bisect``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from datetime import date
from itertools import accumulate

from sellerwatch.streams.calendar import Calendar

MS_MINUTE = 60_000
MS_HOUR = 3_600_000
MS_DAY = 86_400_000

#: Follow-up events (late quality refunds) come at most this many days after payment.
FOLLOW_UP_DAYS = 45

# Relative order intensity by local hour: quiet nights, a late-morning shoulder, a lunch dip, the
# evening peak (20:00–22:00) of live-stream shopping. Minutes interpolate between hour marks.
_HOURLY = (
    1.0,
    0.55,
    0.3,
    0.2,
    0.15,
    0.2,
    0.4,
    0.8,
    1.5,
    2.4,
    3.1,
    3.2,
    2.7,
    2.8,
    3.0,
    3.1,
    3.3,
    3.3,
    2.8,
    3.3,
    4.5,
    5.2,
    4.4,
    2.5,
)
#: Mass around the 17:00 cutoff of the same-day-ship rule (buyers who want today's dispatch,
#: flash sales that end at five), as a Gaussian bump: (centre minute, sd minutes, weight).
_BUMPS = ((17 * 60, 15.0, 2.6), (0, 6.0, 2.0))
#: Monday … Sunday.
WEEKDAY_FACTOR = (1.0, 0.97, 0.98, 1.0, 1.05, 1.12, 1.1)


def _minute_weights() -> list[float]:
    weights = []
    for minute in range(1440):
        hour, frac = divmod(minute, 60)
        low, high = _HOURLY[hour], _HOURLY[(hour + 1) % 24]
        weight = low + (high - low) * frac / 60
        for centre, sd, mass in _BUMPS:
            distance = min(abs(minute - centre), 1440 - abs(minute - centre))
            weight += mass * math.exp(-0.5 * (distance / sd) ** 2)
        weights.append(weight)
    return weights


#: Cumulative weights of the 1,440 minutes of a local day, for ``random.choices``.
MINUTE_CUM: list[float] = list(accumulate(_minute_weights()))
MINUTES: list[int] = list(range(1440))


class Timeline:
    """The local days of a generated range and their midnights."""

    def __init__(self, start: date, days: int, tz_name: str = "Asia/Shanghai") -> None:
        """Days ``0 … days-1`` from ``start``; instants from ``starts[days]`` on are cut off."""
        if days < 1:
            raise ValueError("days must be >= 1")
        calendar = Calendar(tz_name)
        self.start = start
        self.days = days
        self.first_ordinal = start.toordinal()
        self.starts = [
            calendar.start_of(self.first_ordinal + i) for i in range(days + FOLLOW_UP_DAYS + 2)
        ]
        self.begin_ts = self.starts[0]
        self.end_ts = self.starts[days]
        self._iso = [date.fromordinal(self.first_ordinal + i).isoformat() for i in range(days)]

    def day_of(self, ts: int) -> int:
        """Index of the local day containing ``ts`` (may be ``>= days`` for follow-ups)."""
        return bisect_right(self.starts, ts) - 1

    def weekday(self, day: int) -> int:
        """0 for Monday … 6 for Sunday."""
        return (self.first_ordinal + day - 1) % 7  # ordinal 1 (0001-01-01) is a Monday

    def iso(self, day: int) -> str:
        """``YYYY-MM-DD`` of day ``day``."""
        if 0 <= day < self.days:
            return self._iso[day]
        return date.fromordinal(self.first_ordinal + day).isoformat()

    def first_counted_monday(self, delay_days: int = 2) -> int:
        """First Monday on which a plan joined on day 0 counts (join day + ``delay_days``)."""
        day = delay_days
        while self.weekday(day) != 0:
            day += 1
        return day

    def week_of(self, day: int, delay_days: int = 2) -> int:
        """Index of the Monday–Sunday week of ``day``, 0 = the first counted week (may be < 0)."""
        return (day - self.first_counted_monday(delay_days)) // 7

"""Local business calendar (SPEC §1): local dates, ``E_T``, weeks, wall-clock instants.

Days are handled as ``int`` ordinals (``date.toordinal()``) in the hot path; ``E_T`` is the
epoch-ms instant of local midnight that starts day T. This is the only module that touches
``datetime`` and ``zoneinfo``, so time-zone arithmetic is written once.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MS_PER_DAY = 86_400_000


class Calendar:
    """Maps epoch-ms instants to local days of one time zone and back, with caches."""

    def __init__(self, tz_name: str = "Asia/Shanghai") -> None:
        """Build a calendar for an IANA time zone name (raises ``ValueError`` if unknown)."""
        try:
            self.tz = ZoneInfo(tz_name)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"unknown time zone {tz_name!r}") from exc
        self.tz_name = tz_name
        self._starts: dict[int, int] = {}
        self._lo = 0
        self._hi = -1
        self._day = 0

    def day_of(self, ts: int) -> int:
        """Ordinal of the local date containing instant ``ts`` (epoch ms)."""
        if self._lo <= ts < self._hi:
            return self._day
        day = datetime.fromtimestamp(ts // 1000, self.tz).date().toordinal()
        self._lo = self.start_of(day)
        self._hi = self.start_of(day + 1)
        self._day = day
        return day

    def start_of(self, day: int) -> int:
        """``E_T``: epoch ms of local midnight starting day ``day`` (an ordinal)."""
        start = self._starts.get(day)
        if start is None:
            start = self.at(day, 0, 0)
            self._starts[day] = start
        return start

    def at(self, day: int, hour: int, minute: int) -> int:
        """Epoch ms of local wall-clock ``hour:minute`` on day ``day``."""
        local = datetime.combine(date.fromordinal(day), time(hour, minute), self.tz)
        return int(local.timestamp()) * 1000

    @staticmethod
    def iso(day: int) -> str:
        """``YYYY-MM-DD`` of a day ordinal."""
        return date.fromordinal(day).isoformat()

    @staticmethod
    def weekday(day: int) -> int:
        """0 for Monday … 6 for Sunday."""
        return (day - 1) % 7  # ordinal 1, 0001-01-01, was a Monday

    @staticmethod
    def monday_of(day: int) -> int:
        """Ordinal of the Monday starting the week that contains ``day``."""
        return day - (day - 1) % 7

    @staticmethod
    def ordinal(iso_date: str) -> int:
        """Day ordinal of a ``YYYY-MM-DD`` string."""
        return date.fromisoformat(iso_date).toordinal()

    def parse_local(self, text: str) -> int:
        """Epoch ms of a local wall-clock string, e.g. ``"2021-07-05 16:59:59.999"``."""
        naive = datetime.fromisoformat(text)
        if naive.tzinfo is not None:
            raise ValueError(f"expected a local time without offset, got {text!r}")
        whole = naive.replace(microsecond=0, tzinfo=self.tz)
        return int(whole.timestamp()) * 1000 + naive.microsecond // 1000

    def format_local(self, ts: int) -> str:
        """Local wall-clock text of an instant, millisecond precision."""
        local = datetime.fromtimestamp(ts // 1000, self.tz) + timedelta(milliseconds=ts % 1000)
        return local.isoformat(sep=" ", timespec="milliseconds")[:23]

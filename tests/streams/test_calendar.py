"""SPEC §1: local days, E_T, weeks, in Asia/Shanghai and a zone with daylight saving."""

from __future__ import annotations

import pytest

from sellerwatch.streams.calendar import Calendar


def test_local_midnight_starts_the_day() -> None:
    cal = Calendar("Asia/Shanghai")
    e = cal.parse_local("2021-07-05 00:00:00")
    assert e == 1625414400000  # 2021-07-04T16:00:00Z
    assert cal.iso(cal.day_of(e)) == "2021-07-05"
    assert cal.iso(cal.day_of(e - 1)) == "2021-07-04"
    assert cal.start_of(cal.day_of(e)) == e


def test_weeks_start_on_monday() -> None:
    cal = Calendar()
    sunday = cal.ordinal("2021-07-11")
    assert cal.iso(cal.monday_of(sunday)) == "2021-07-05"
    assert cal.weekday(cal.ordinal("2021-07-05")) == 0


def test_days_follow_daylight_saving_where_the_zone_has_it() -> None:
    cal = Calendar("Europe/Berlin")
    day = cal.ordinal("2021-03-28")  # 23 hours long
    assert cal.start_of(day + 1) - cal.start_of(day) == 23 * 3_600_000
    assert cal.at(day, 20, 0) - cal.start_of(day) == 19 * 3_600_000


def test_unknown_zone_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        Calendar("Mars/Olympus")

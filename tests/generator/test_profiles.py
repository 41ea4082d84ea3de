"""Profile sizes, speed and bounded memory."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from sellerwatch.generator import PROFILES, Generator


def _run(generator: Generator) -> int:
    return sum(len(batch) for batch in generator.batches())


def test_small_profile_is_about_20k_events() -> None:
    assert 15_000 <= _run(Generator(PROFILES["small"], 1)) <= 25_000


def test_buffer_holds_a_few_days_whatever_the_length_of_the_run() -> None:
    # Refunds reach up to 42 days ahead, so the buffer is at its steady size after ~6 weeks.
    base = replace(PROFILES["large"], shops=100, orders_per_day=800, anchors=())
    short, long = Generator(replace(base, days=50), 1), Generator(replace(base, days=100), 1)
    per_day = _run(long) / 100
    _run(short)
    assert long.max_buffered < 4 * per_day  # the day being flushed + follow-ups + refunds
    assert long.max_buffered < 1.1 * short.max_buffered


@pytest.mark.slow
def test_medium_profile_is_about_300k_events() -> None:
    assert 250_000 <= _run(Generator(PROFILES["medium"], 1)) <= 380_000


@pytest.mark.slow
def test_large_profile_makes_3m_events_in_well_under_two_minutes() -> None:
    started = time.perf_counter()
    events = _run(Generator(PROFILES["large"], 1))
    assert events >= 3_000_000
    assert time.perf_counter() - started < 90

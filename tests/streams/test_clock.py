"""SPEC §1.1: the watermark over partitions, idle release and end of input."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sellerwatch.streams.clock import EventClock


def test_watermark_is_max_ts_minus_lateness_and_never_goes_back() -> None:
    clock = EventClock(lateness_ms=300_000)
    assert clock.watermark is None and not clock.is_late(0)
    clock.observe(0, 1_000_000)
    assert clock.watermark == 700_000
    clock.observe(0, 900_000)
    assert clock.watermark == 700_000
    assert clock.is_late(699_999) and not clock.is_late(700_000)


def test_a_lagging_partition_holds_time_back_until_it_is_idle() -> None:
    clock = EventClock(lateness_ms=0, idle_timeout_ms=10_000)
    clock.assign([0, 1], now_ms=0)
    clock.observe(0, 5_000, now_ms=1)
    assert clock.watermark is None  # partition 1 has no data yet
    clock.observe(1, 2_000, now_ms=2)
    assert clock.watermark == 2_000
    clock.observe(0, 9_000, now_ms=3)
    assert clock.watermark == 2_000
    assert clock.tick(now_ms=5_000) is False
    assert clock.tick(now_ms=10_003) is True  # partition 1 silent for > 10 s
    assert clock.watermark == 9_000


def test_finished_partitions_stop_holding_back_and_the_end_of_input_is_max_ts() -> None:
    clock = EventClock(lateness_ms=100)
    clock.assign(["a", "b"])
    clock.observe("a", 1_000)
    clock.observe("b", 500)
    assert clock.watermark == 400
    clock.finish("b")
    assert clock.watermark == 900
    clock.finish()
    assert clock.watermark == 1_000


def _copy(name: str) -> str:
    """An equal string that is another object (as ids decoded from Kafka headers are)."""
    return "".join(list(name))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("observe"), st.sampled_from("abcd"), st.integers(0, 50)),
            st.tuples(st.just("finish"), st.sampled_from("abcd"), st.just(0)),
        ),
        max_size=60,
    )
)
def test_the_watermark_is_always_the_minimum_over_the_holding_partitions(
    steps: list[tuple[str, str, int]],
) -> None:
    """Whatever shortcut the clock takes, W is what the definition gives after every step."""
    clock = EventClock(lateness_ms=5)
    clock.assign([f"p{name}" for name in "abcd"])
    max_ts: dict[str, int | None] = {name: None for name in "abcd"}
    released: set[str] = set()
    expected: int | None = None
    for action, name, ts in steps:
        if action == "observe":
            clock.observe(_copy(f"p{name}"), ts)
            released.discard(name)
            max_ts[name] = max(ts, max_ts[name] or ts)
        else:
            clock.finish(_copy(f"p{name}"))
            released.add(name)
        seen = [v for v in max_ts.values() if v is not None]
        holding = [max_ts[n] for n in max_ts if n not in released]
        if seen and None not in holding:
            candidate = (min(holding) if holding else max(seen)) - 5  # type: ignore[type-var]
            expected = candidate if expected is None else max(expected, candidate)
        assert clock.watermark == expected

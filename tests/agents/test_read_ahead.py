"""Watermark alignment: which input partitions the engine owner pauses, as the worked table in
``agents/read_ahead.py`` says (``L`` = 0 here unless told)."""

from __future__ import annotations

from sellerwatch.agents.read_ahead import plan_read_ahead
from sellerwatch.streams.clock import EventClock

MINUTE = 60_000


def _clock(lateness_ms: int = 0, **latest: int) -> EventClock:
    clock = EventClock(lateness_ms)
    clock.assign(latest)
    for source, ts in latest.items():
        clock.observe(source, ts)
    return clock


SOURCES = {"tp-a": "a", "tp-b": "b"}


def test_a_partition_far_ahead_of_w_is_paused_and_the_one_holding_w_is_not() -> None:
    clock = _clock(a=100 * 1000, b=170 * 1000)
    assert clock.watermark == 100 * 1000
    assert plan_read_ahead(clock, SOURCES, set(), MINUTE) == (["tp-b"], [])


def test_it_is_resumed_once_w_comes_within_reach() -> None:
    clock = _clock(a=100 * 1000, b=170 * 1000)
    clock.observe("a", 150 * 1000)
    assert plan_read_ahead(clock, SOURCES, {"tp-b"}, MINUTE) == ([], ["tp-b"])


def test_the_lateness_is_added_to_the_reach() -> None:
    clock = _clock(lateness_ms=5 * MINUTE, a=10 * MINUTE, b=16 * MINUTE)
    assert clock.watermark == 5 * MINUTE  # b is 11 min past W: L (5) + 6 more
    assert plan_read_ahead(clock, SOURCES, set(), 6 * MINUTE) == ([], [])
    assert plan_read_ahead(clock, SOURCES, set(), 5 * MINUTE) == (["tp-b"], [])


def test_nothing_is_paused_before_every_partition_has_a_record() -> None:
    clock = EventClock(0)
    clock.assign(["a", "b"])
    clock.observe("b", 10**9)
    assert clock.watermark is None
    assert plan_read_ahead(clock, SOURCES, set(), MINUTE) == ([], [])


def test_zero_turns_alignment_off_and_resumes_what_was_paused() -> None:
    clock = _clock(a=0, b=10**9)
    assert plan_read_ahead(clock, SOURCES, {"tp-b"}, 0) == ([], ["tp-b"])


def test_a_finished_input_pauses_nothing() -> None:
    clock = _clock(a=0, b=10**9)
    clock.finish()
    assert plan_read_ahead(clock, SOURCES, {"tp-b"}, MINUTE) == ([], ["tp-b"])


class _Consumer:
    """The four calls PartitionWatch makes of an aiokafka consumer (a unit-test stand-in)."""

    def __init__(self, partitions: set[str], paused: set[str]) -> None:
        self.partitions, self.held = partitions, paused

    def assignment(self) -> set[str]:
        return self.partitions

    def paused(self) -> set[str]:
        return self.held

    def last_stable_offset(self, tp: str) -> int:
        return 10

    async def position(self, tp: str) -> int:
        return 10  # read to the end: silent partitions are idle


async def test_a_paused_partition_is_never_marked_idle() -> None:
    """Paused, it keeps holding W back: released as idle, W could pass records it holds."""
    from sellerwatch.agents.envelope import IDLE
    from sellerwatch.agents.partition_watch import PartitionWatch

    consumer = _Consumer({"a", "b"}, paused={"b"})
    watch = PartitionWatch(idle_timeout_ms=0)
    await watch.assigned(consumer, ["a", "b"])  # type: ignore[arg-type]
    watch.quiet_since = dict.fromkeys(["a", "b"], 0.0)  # type: ignore[arg-type]  # long silent
    assert await watch.due(consumer, {}) == [(IDLE, "a")]  # type: ignore[arg-type]
    consumer.held = set()
    assert await watch.due(consumer, {}) == [(IDLE, "b")]  # type: ignore[arg-type]

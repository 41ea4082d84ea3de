"""Watermark alignment: which input partitions the engine owner pauses, as the worked table in
``agents/read_ahead.py`` says (``L`` = 0 and times in seconds here unless told)."""

from __future__ import annotations

from sellerwatch.agents.read_ahead import plan_read_ahead
from sellerwatch.streams.clock import EventClock

SECOND = 1000
LIMIT = 100
SOURCES = {"tp-a": "a", "tp-b": "b"}


def _clock(lateness_ms: int = 0, **latest: int) -> EventClock:
    clock = EventClock(lateness_ms)
    clock.assign(latest)
    for source, ts in latest.items():
        clock.observe(source, ts * SECOND)
    return clock


def test_under_the_limit_nothing_is_paused() -> None:
    clock = _clock(a=100, b=170)
    assert plan_read_ahead(clock, SOURCES, set(), 80, LIMIT) == ([], [])


def test_over_the_limit_the_partitions_ahead_of_w_are_paused_not_the_one_holding_it() -> None:
    clock = _clock(a=100, b=170)
    assert clock.watermark == 100 * SECOND
    assert plan_read_ahead(clock, SOURCES, set(), 120, LIMIT) == (["tp-b"], [])


def test_paused_partitions_stay_paused_until_the_queue_is_under_half() -> None:
    clock = _clock(a=100, b=170)
    clock.observe("a", 130 * SECOND)
    assert plan_read_ahead(clock, SOURCES, {"tp-b"}, 70, LIMIT) == ([], [])
    clock.observe("a", 160 * SECOND)
    assert plan_read_ahead(clock, SOURCES, {"tp-b"}, 40, LIMIT) == ([], ["tp-b"])


def test_a_partition_within_the_lateness_of_w_holds_it_and_is_not_paused() -> None:
    clock = _clock(lateness_ms=5 * 60 * SECOND, a=600, b=700)
    assert clock.watermark == 300 * SECOND  # a's 600 s less L: a and b both within W + L
    assert plan_read_ahead(clock, SOURCES, set(), 120, LIMIT) == (["tp-b"], [])
    clock.observe("a", 700 * SECOND)
    assert plan_read_ahead(clock, SOURCES, set(), 120, LIMIT) == ([], [])


def test_a_paused_partition_that_comes_to_hold_w_is_resumed_whatever_the_queue() -> None:
    """The holder went idle while the others were paused: the new holder must be read, or W
    would never move again (found by bench/read_ahead.py: a worker stuck with every input
    partition paused)."""
    clock = EventClock(0)
    clock.assign(["a", "b", "c"])
    for source, ts in (("a", 100), ("b", 170), ("c", 180)):
        clock.observe(source, ts * SECOND)
    sources = {"tp-a": "a", "tp-b": "b", "tp-c": "c"}
    assert plan_read_ahead(clock, sources, set(), 120, LIMIT) == (["tp-b", "tp-c"], [])
    clock.finish("a")  # idle
    assert clock.watermark == 170 * SECOND
    assert plan_read_ahead(clock, sources, {"tp-b", "tp-c"}, 120, LIMIT) == ([], ["tp-b"])


def test_before_w_the_partitions_with_a_record_are_ahead_of_those_without() -> None:
    """W waits for the first record of every partition: those that gave one are ahead."""
    clock = EventClock(0)
    clock.assign(["a", "b"])
    clock.observe("b", 10**9)
    assert clock.watermark is None
    assert plan_read_ahead(clock, SOURCES, set(), 80, LIMIT) == ([], [])
    assert plan_read_ahead(clock, SOURCES, set(), 10**6, LIMIT) == (["tp-b"], [])
    clock.observe("a", 10**9)  # W = 10**9: b holds it too now
    assert plan_read_ahead(clock, SOURCES, {"tp-b"}, 10**6, LIMIT) == ([], ["tp-b"])


def test_zero_turns_alignment_off_and_resumes_what_was_paused() -> None:
    clock = _clock(a=0, b=10**6)
    assert plan_read_ahead(clock, SOURCES, {"tp-b"}, 10**6, 0) == ([], ["tp-b"])


def test_a_finished_input_pauses_nothing() -> None:
    clock = _clock(a=0, b=10**6)
    clock.finish()
    assert plan_read_ahead(clock, SOURCES, {"tp-b"}, 10**6, LIMIT) == ([], ["tp-b"])


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

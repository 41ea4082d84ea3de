"""Id memory (SPEC §7) on its own: the worked table of ``streams/ids.py``, and forgetting."""

from __future__ import annotations

from sellerwatch.streams.ids import DAY_MS, IdMemory


def test_the_worked_table_of_the_module() -> None:
    memory = IdMemory(horizon_ms=1 * DAY_MS)
    assert not memory.seen_again("a", 5 * DAY_MS, None)
    assert memory.seen_again("a", 6 * DAY_MS, 4 * DAY_MS)
    assert memory.seen["a"] == 5 * DAY_MS, "a duplicate never refreshes the memory"
    assert not memory.seen_again("a", 7 * DAY_MS, 7 * DAY_MS)
    assert memory.seen["a"] == 7 * DAY_MS


def test_an_id_is_a_duplicate_up_to_exactly_the_horizon() -> None:
    memory = IdMemory(horizon_ms=1000)
    memory.seen_again("a", 10_000, None)
    assert memory.seen_again("a", 20_000, 11_000), "remembered ts = W - horizon: still a duplicate"
    assert not memory.seen_again("a", 20_000, 11_001)


def test_whole_days_are_forgotten_once_behind_the_horizon_and_newer_ids_stay() -> None:
    memory = IdMemory(horizon_ms=DAY_MS)
    memory.seen_again("old", 1 * DAY_MS + 5, None)
    memory.seen_again("moved", 1 * DAY_MS + 6, None)
    memory.seen_again("new", 3 * DAY_MS, None)
    # "moved" comes back after the horizon: remembered again under day 3
    assert not memory.seen_again("moved", 3 * DAY_MS + 1, 3 * DAY_MS)
    memory.forget(watermark=3 * DAY_MS)  # forget_ts = day 2: day 1 lies wholly before it
    assert set(memory.seen) == {"moved", "new"}
    assert list(memory.by_day) == [3]
    memory.forget(watermark=5 * DAY_MS)
    assert len(memory) == 0 and not memory.by_day

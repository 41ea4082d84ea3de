"""``ship48_pickup24``'s own per-bucket counts: recounted only when something happened."""

from __future__ import annotations

from sellerwatch.streams.policy import Policy
from sellerwatch.streams.rules.ship48_pickup24 import BucketCounts
from sellerwatch.streams.state import State
from tests.builders import payment, shipment

DAY = 86_400_000
PAID = payment("O1", "2024-06-01 10:00", item="I1")


def _state_with_one_order() -> State:
    state = State.new(Policy())
    state.book.add_payment(PAID, paid_day=10, monday=7)
    return state


def test_a_bucket_is_recounted_only_after_a_fact_of_its_orders_arrived() -> None:
    state = _state_with_one_order()
    bucket, counts = state.book.days[10]["I1"], BucketCounts()
    later = PAID.ts + 30 * DAY  # long past the exemption reports' deadline
    first = counts.counted(state, 10, "I1", bucket, later)
    assert counts.counted(state, 10, "I1", bucket, later) is first, "kept, not recounted"
    state.book.add_order_event(shipment("O1", "2024-06-01 10:01", tracking="T1"))
    second = counts.counted(state, 10, "I1", bucket, later)
    assert second is not first and second[0] == bucket.changes


def test_a_bucket_still_open_to_exemption_reports_is_counted_every_time() -> None:
    state = _state_with_one_order()
    bucket, counts = state.book.days[10]["I1"], BucketCounts()
    soon = PAID.ts + 60_000  # an exemption may still be filed for the order
    first = counts.counted(state, 10, "I1", bucket, soon)
    assert first[0] == -1
    assert counts.counted(state, 10, "I1", bucket, soon) is not first


def test_days_no_window_reads_any_more_are_forgotten() -> None:
    state = _state_with_one_order()
    counts = BucketCounts()
    counts.counted(state, 10, "I1", state.book.days[10]["I1"], PAID.ts + 30 * DAY)
    counts.forget_before(11)
    assert counts.by_day == {}

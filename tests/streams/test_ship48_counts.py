"""``ship48_pickup24``'s own per-bucket counts: recounted only when something happened."""

from __future__ import annotations

from schemas.events import Payment, Shipment
from streams.policy import Policy
from streams.rules.ship48_pickup24 import BucketCounts
from streams.state import State

DAY = 86_400_000


def _state_with_one_order() -> State:
    state = State.new(Policy())
    payment = Payment(
        event_id="p1",
        ts=10 * DAY,
        order_id="O1",
        shop_id="S1",
        item_id="I1",
        category_id="C1",
        channel="taobao",
        amount_cents=100,
    )
    state.book.add_payment(payment, paid_day=10, monday=7)
    return state


def test_a_bucket_is_recounted_only_after_a_fact_of_its_orders_arrived() -> None:
    state = _state_with_one_order()
    bucket, counts = state.book.days[10]["I1"], BucketCounts()
    later = 30 * DAY  # long past the exemption reports' deadline
    first = counts.counted(state, 10, "I1", bucket, later)
    assert counts.counted(state, 10, "I1", bucket, later) is first, "kept, not recounted"
    shipment = Shipment(
        event_id="s1", ts=10 * DAY + 1, order_id="O1", carrier="c", tracking_no="T1"
    )
    state.book.add_order_event(shipment)
    second = counts.counted(state, 10, "I1", bucket, later)
    assert second is not first and second[0] == bucket.changes


def test_a_bucket_still_open_to_exemption_reports_is_counted_every_time() -> None:
    state = _state_with_one_order()
    bucket, counts = state.book.days[10]["I1"], BucketCounts()
    soon = 10 * DAY + 60_000  # an exemption may still be filed for the order
    first = counts.counted(state, 10, "I1", bucket, soon)
    assert first[0] == -1
    assert counts.counted(state, 10, "I1", bucket, soon) is not first


def test_days_no_window_reads_any_more_are_forgotten() -> None:
    state = _state_with_one_order()
    counts = BucketCounts()
    counts.counted(state, 10, "I1", state.book.days[10]["I1"], 30 * DAY)
    counts.forget_before(11)
    assert counts.by_day == {}

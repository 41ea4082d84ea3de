"""SPEC §4.1: 17:00/20:00 same-day ship and the weekly per-package incentive."""

from __future__ import annotations

from sellerwatch.schemas.events import Event
from sellerwatch.streams.engine import Engine
from tests.builders import clock_tick, enroll, kinds, payment, pickup, refund, run_sorted, shipment

WEEK = "2021-07-05"  # a Monday; settled at E = 2021-07-14 00:00 (Monday + 9 days)
SETTLE = "2021-07-14 00:00:01"


def _figures(events: list[Event]) -> list[tuple[str, int, int, str | None]]:
    engine = Engine(collect_evaluations=True)
    for event in sorted(events, key=lambda e: e.ts):
        engine.accept(event)
    engine.finish()
    return [
        (e.subject, e.numerator, e.denominator, e.verdict)
        for e in engine.take_evaluations()
        if e.rule == "same_day_ship"
    ]


def _order(
    oid: str,
    paid: str,
    shipped: str | None,
    *,
    tracking: str | None = None,
    official: bool = True,
    picked: bool = True,
) -> list[Event]:
    events: list[Event] = [payment(oid, paid)]
    if shipped is not None:
        events.append(shipment(oid, shipped, tracking=tracking, official=official))
        if picked:
            events.append(pickup(tracking or f"T-{oid}", shipped))
    return events


def test_paid_before_17_must_ship_by_20_the_same_day() -> None:
    events = [
        enroll("S1", "2021-06-01 09:00"),
        *_order("A", "2021-07-05 16:59:59.999", "2021-07-05 20:00:00.000"),  # on time, exactly
        *_order("B", "2021-07-05 16:59:59.999", "2021-07-05 20:00:00.001"),  # 1 ms late
        *_order("C", "2021-07-05 17:00:00.000", "2021-07-06 20:00:00.000"),  # next day, on time
        clock_tick(SETTLE),
    ]
    assert _figures(events) == [("S1", 2, 3, None)]


def test_unofficial_or_never_picked_up_orders_miss_the_numerator_only() -> None:
    events = [
        enroll("S1", "2021-06-01 09:00"),
        *_order("A", "2021-07-05 10:00", "2021-07-05 11:00", official=False),
        *_order("B", "2021-07-05 10:00", "2021-07-05 11:00", picked=False),
        *_order("C", "2021-07-05 10:00", None),
        clock_tick(SETTLE),
    ]
    assert _figures(events) == [("S1", 0, 3, None)]


def test_refunded_before_shipment_leaves_the_denominator() -> None:
    events = [
        enroll("S1", "2021-06-01 09:00"),
        *_order("A", "2021-07-05 10:00", "2021-07-05 11:00"),
        payment("B", "2021-07-05 10:00"),
        refund("B", "2021-07-05 10:30", reason="other"),
        clock_tick(SETTLE),
    ]
    assert _figures(events) == [("S1", 1, 1, None)]


def test_join_on_05_28_counts_from_05_30() -> None:
    events = [
        enroll("S1", "2021-05-28 12:00"),
        *_order("A", "2021-05-29 23:59:59.999", "2021-05-30 10:00"),  # not counted
        *_order("B", "2021-05-30 00:00:00.000", "2021-05-30 10:00"),  # counted
        clock_tick("2021-06-03 00:00:01"),  # week of Monday 05-24 settles on 06-02
    ]
    assert _figures(events) == [("S1", 1, 1, None)]


def _big_week(orders: int, on_time: int, *, per_parcel: int = 1) -> list[Event]:
    events: list[Event] = [enroll("S1", "2021-06-01 09:00")]
    for i in range(orders):
        day = 5 + i % 7
        paid = f"2021-07-{day:02d} 10:00"
        shipped = f"2021-07-{day:02d} 19:00" if i < on_time else f"2021-07-{day:02d} 21:00"
        tracking = f"P{i // per_parcel}"
        events.append(payment(f"O{i}", paid))
        events.append(shipment(f"O{i}", shipped, tracking=tracking))
        if i % per_parcel == 0:
            events.append(pickup(tracking, shipped))
    events.append(clock_tick(SETTLE))
    return events


def _incentives(events: list[Event]) -> list:
    return [v for v in run_sorted(events) if v.rule == "same_day_ship"]


def test_incentive_at_exactly_85_percent_with_2100_orders_pays_20_cents() -> None:
    verdicts = _incentives(_big_week(2100, 1785))  # 1785 / 2100 = 0.85
    assert kinds(verdicts) == [("incentive", "S1", WEEK)]
    v = verdicts[0]
    assert (v.numerator, v.denominator, v.amount_cents) == (1785, 2100, 20 * 2100)
    assert v.details == {"packages": 2100, "daily_avg_orders": 300.0, "cents_per_package": 20}
    assert (v.window_start, v.window_end, v.item_id, v.threshold) == (
        WEEK,
        "2021-07-11",
        None,
        0.85,
    )
    assert v.verdict_id == f"same_day_ship:incentive:S1:{WEEK}"


def test_below_85_percent_or_below_2100_orders_earns_nothing() -> None:
    assert _incentives(_big_week(2100, 1784)) == []
    assert _incentives(_big_week(2099, 2099)) == []


def test_7000_orders_pay_30_cents_per_distinct_tracking_number() -> None:
    verdicts = _incentives(_big_week(7000, 7000, per_parcel=2))
    assert kinds(verdicts) == [("incentive", "S1", WEEK)]
    assert verdicts[0].details == {
        "packages": 3500,
        "daily_avg_orders": 1000.0,
        "cents_per_package": 30,
    }
    assert verdicts[0].amount_cents == 30 * 3500


def test_orders_paid_while_suspended_do_not_count() -> None:
    events = [
        enroll("S1", "2021-06-01 09:00"),
        enroll("S1", "2021-07-05 09:00", "suspend"),
        *_order("A", "2021-07-05 10:00", "2021-07-05 11:00"),
        enroll("S1", "2021-07-07 09:00", "resume"),  # reopens at 07-07 00:00
        *_order("B", "2021-07-06 10:00", "2021-07-06 11:00"),
        *_order("C", "2021-07-07 08:00", "2021-07-07 11:00"),
        clock_tick(SETTLE),
    ]
    assert _figures(events) == [("S1", 1, 1, None)]

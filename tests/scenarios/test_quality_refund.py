"""SPEC §4.4: quality-refund rate vs its leaf category, 7-day observation, fine on 3 strikes.

Item I1 (in the subsidy activity) sells 10 orders on 07-01 and 6 of them are refunded for
quality on 07-02: 60% against a category rate of 6/104. Exceed is then switched off and on by
changing the category's figures (refunds on I2 raise ``n_c``; new I2 orders raise ``d_c``):
``exceed ⇔ 2·n_i·d_c > 3·n_c·d_i`` with ``n_i = 6, d_i = 10``, i.e. ``12·d_c > 30·n_c``.
"""

from __future__ import annotations

from dataclasses import replace

from sellerwatch.schemas.events import Event
from sellerwatch.streams.engine import Engine
from sellerwatch.streams.policy import Policy, QualityRefund
from tests.builders import clock_tick, kinds, payment, refund, subsidy
from tests.builders import run_sorted as _run_all


def run_sorted(events: list[Event]) -> list:
    """Quality-refund verdicts only: the unshipped orders also delist I1, which stays in scope."""
    return [v for v in _run_all(events) if v.rule == "quality_refund"]


def _base() -> list[Event]:
    events: list[Event] = [subsidy("I1", "2021-06-20 09:00")]
    for i in range(10):
        events.append(payment(f"A{i}", "2021-07-01 10:00", item="I1"))
    for i in range(6):
        events.append(refund(f"A{i}", "2021-07-02 10:00"))
    for i in range(94):
        events.append(payment(f"B{i}", "2021-07-01 10:00", item="I2"))
    return events


def _category_refunds(n: int, at_: str, start: int = 0) -> list[Event]:
    return [refund(f"B{start + i}", at_) for i in range(n)]


def _category_orders(n: int, at_: str, tag: str) -> list[Event]:
    return [payment(f"C{tag}{i}", at_, item="I2") for i in range(n)]


def test_exceed_on_days_1_3_5_watches_on_day_1_and_fines_on_day_5() -> None:
    events = [
        *_base(),  # day 1 = 07-03: exceed (n_c = 6, d_c = 104)
        *_category_refunds(36, "2021-07-03 12:00"),  # day 2: n_c = 42 → 1248 <= 1260, no
        *_category_orders(2, "2021-07-04 12:00", "x"),  # day 3: d_c = 106 → 1272 > 1260, yes
        *_category_refunds(1, "2021-07-05 12:00", 36),  # day 4: n_c = 43 → 1272 <= 1290, no
        *_category_orders(2, "2021-07-06 12:00", "y"),  # day 5: d_c = 108 → 1296 > 1290, yes
        *_category_refunds(20, "2021-07-07 12:00", 37),  # from day 6 on: no
        clock_tick("2021-07-20"),
    ]
    verdicts = run_sorted(events)
    assert kinds(verdicts) == [("watch", "I1", "2021-07-03"), ("fine", "I1", "2021-07-07")]
    watch, fine = verdicts
    assert (watch.numerator, watch.denominator, watch.amount_cents) == (6, 10, 0)
    assert watch.details == {
        "category_id": "C1",
        "category_numerator": 6,
        "category_denominator": 104,
        "strikes": 1,
        "observation_start": "2021-07-03",
    }
    assert (watch.window_start, watch.window_end, watch.threshold) == (
        "2021-06-03",
        "2021-07-02",
        1.5,
    )
    assert fine.amount_cents == 20000
    assert fine.details["strikes"] == 3 and fine.details["observation_start"] == "2021-07-03"
    assert fine.details["category_numerator"] == 43 and fine.details["category_denominator"] == 108


def test_exceed_on_days_1_and_8_watches_twice() -> None:
    events = [
        *_base(),  # day 1 = 07-03: exceed
        *_category_refunds(36, "2021-07-03 12:00"),  # days 2..7: no
        *_category_orders(2, "2021-07-09 12:00", "x"),  # day 8 = 07-10: yes
        clock_tick("2021-07-10 00:00:01"),
    ]
    assert kinds(run_sorted(events)) == [
        ("watch", "I1", "2021-07-03"),
        ("watch", "I1", "2021-07-10"),
    ]


def test_a_fine_day_opens_no_new_observation_but_the_next_day_may() -> None:
    events = [*_base(), clock_tick("2021-07-08 00:00:01")]  # exceed every day from 07-03
    assert kinds(run_sorted(events)) == [
        ("watch", "I1", "2021-07-03"),
        ("fine", "I1", "2021-07-05"),
        ("watch", "I1", "2021-07-06"),
        ("fine", "I1", "2021-07-08"),
    ]


def test_fewer_than_6_quality_refunds_never_exceed() -> None:
    events: list[Event] = [subsidy("I1", "2021-06-20 09:00")]
    events += [payment(f"A{i}", "2021-07-01 10:00", item="I1") for i in range(5)]
    events += [refund(f"A{i}", "2021-07-02 10:00") for i in range(5)]
    events += [payment(f"B{i}", "2021-07-01 10:00", item="I2") for i in range(1000)]
    events.append(clock_tick("2021-08-10"))
    assert run_sorted(events) == []


def test_other_refunds_do_not_count_as_quality() -> None:
    events = [
        *_base()[:11],
        *[refund(f"A{i}", "2021-07-02 10:00", reason="other") for i in range(6)],
    ]
    events += [payment(f"B{i}", "2021-07-01 10:00", item="I2") for i in range(94)]
    events.append(clock_tick("2021-07-20"))
    assert run_sorted(events) == []


def test_items_without_subsidy_history_are_not_judged() -> None:
    events = [e for e in _base() if not e.event_id.startswith("sub")]
    assert run_sorted([*events, clock_tick("2021-07-20")]) == []


def test_an_item_that_left_more_than_30_days_ago_is_out_of_scope() -> None:
    early = [subsidy("I1", "2021-05-01 09:00"), subsidy("I1", "2021-06-02 23:59:59.999", "exit")]
    events = [*early, *[e for e in _base() if not e.event_id.startswith("sub")]]
    assert run_sorted([*events, clock_tick("2021-07-03 00:00:01")]) == []
    recent = [subsidy("I1", "2021-05-01 09:00"), subsidy("I1", "2021-06-03 00:00:00", "exit")]
    events = [*recent, *[e for e in _base() if not e.event_id.startswith("sub")]]
    # Left exactly 30 days before E = 07-03 00:00: still in scope.
    assert kinds(run_sorted([*events, clock_tick("2021-07-03 00:00:01")])) == [
        ("watch", "I1", "2021-07-03")
    ]


def _item_refund_count(refund_at: str) -> int:
    policy = replace(Policy(), quality_refund=replace(QualityRefund(), window_days=31))
    engine = Engine(policy, collect_evaluations=True)
    events = [
        subsidy("I1", "2021-06-20 09:00"),
        payment("A0", "2021-07-01 10:00"),
        refund("A0", refund_at),
        clock_tick("2021-08-01 00:00:01"),
    ]
    for event in sorted(events, key=lambda e: e.ts):
        engine.accept(event)
    engine.finish()
    last = [e for e in engine.take_evaluations() if e.rule == "quality_refund"][-1]
    assert last.period == "2021-08-01"
    return last.numerator


def test_a_refund_exactly_30_days_after_payment_is_a_quality_refund() -> None:
    # With the default 30-day window such an order has left the window by then, so a
    # 31-day window is used to make the boundary visible.
    assert _item_refund_count("2021-07-31 10:00:00.000") == 1
    assert _item_refund_count("2021-07-31 10:00:00.001") == 0

"""SPEC §4.6 ``campaign_fulfilment``: every boundary of the two steps, on small hand-made inputs.

The campaign is 618-2022 (tmall, 2022-05-31 20:00 to 2022-06-21 00:00 local, 48h/48h/24h).
"""

from __future__ import annotations

from dataclasses import replace

from sellerwatch.schemas.events import Event
from sellerwatch.schemas.verdict import Verdict
from sellerwatch.streams.campaigns import Campaign
from sellerwatch.streams.policy import Policy
from tests.builders import at, clock_tick, exemption, payment, pickup, refund, run_sorted, shipment

CAMPAIGN = Campaign(
    name="618-2022",
    channel="tmall",
    paid_from_ms=at("2022-05-31 20:00:00"),
    paid_before_ms=at("2022-06-21 00:00:00"),
)
POLICY = replace(Policy(), campaigns=(CAMPAIGN,))
PAID = "2022-06-01 10:00:00.000"
END = "2022-06-15 00:00"


def breaches(events: list[Event], policy: Policy = POLICY) -> list[Verdict]:
    """The campaign verdicts of a run that ends well after every step."""
    verdicts = run_sorted([*events, clock_tick(END)], policy)
    return [v for v in verdicts if v.rule == "campaign_fulfilment"]


def reasons(events: list[Event], policy: Policy = POLICY) -> list[tuple[str, str, int]]:
    """(order, reason, decided_at) of each breach."""
    return [
        (v.details["order_id"], v.details["reason"], v.decided_at) for v in breaches(events, policy)
    ]


def order(
    ship: str | None,
    pick: str | None,
    update: str | None,
    *,
    oid: str = "O1",
    paid: str = PAID,
    channel: str = "tmall",
    scan: str = "transit",
) -> list[Event]:
    """A campaign order with its shipment, pickup and update scan (any may be missing)."""
    events: list[Event] = [payment(oid, paid, channel=channel, shop="S1", item="I1")]
    if ship is not None:
        events.append(shipment(oid, ship))
    if pick is not None:
        events.append(pickup(f"T-{oid}", pick))
    if update is not None:
        events.append(pickup(f"T-{oid}", update, scan=scan))
    return events


def test_an_order_that_keeps_the_promise_gets_no_verdict() -> None:
    assert reasons(order("2022-06-02 09:00", "2022-06-02 12:00", "2022-06-03 01:00")) == []


def test_shipping_at_exactly_48h_is_in_time_and_1ms_later_is_a_breach() -> None:
    pick, upd = "2022-06-03 10:00:00.000", "2022-06-03 12:00"
    assert reasons(order("2022-06-03 10:00:00.000", pick, upd)) == []
    got = reasons(order("2022-06-03 10:00:00.001", pick, upd))
    # step 1 at the first midnight after paid + 48h
    assert got == [("O1", "not_shipped_in_time", at("2022-06-04 00:00"))]


def test_no_shipment_at_all_is_not_shipped_in_time() -> None:
    assert reasons(order(None, None, None)) == [
        ("O1", "not_shipped_in_time", at("2022-06-04 00:00"))
    ]


def test_pickup_before_shipment_counts_and_pickup_at_exactly_48h_is_in_time() -> None:
    assert reasons(order("2022-06-02 09:00", "2022-06-02 08:00", "2022-06-02 20:00")) == []
    assert reasons(order("2022-06-02 09:00", "2022-06-03 10:00:00.000", "2022-06-03 20:00")) == []
    assert reasons(order("2022-06-02 09:00", "2022-06-03 10:00:00.001", "2022-06-03 20:00")) == [
        ("O1", "no_pickup_in_time", at("2022-06-04 00:00"))
    ]


def test_no_pickup_is_no_pickup_in_time() -> None:
    assert reasons(order("2022-06-02 09:00", None, "2022-06-02 20:00")) == [
        ("O1", "no_pickup_in_time", at("2022-06-04 00:00"))
    ]


def test_an_update_at_exactly_24h_after_pickup_is_in_time_and_1ms_later_is_a_breach() -> None:
    pick = "2022-06-01 12:00:00.000"
    assert reasons(order("2022-06-01 11:00", pick, "2022-06-02 12:00:00.000")) == []
    got = reasons(order("2022-06-01 11:00", pick, "2022-06-02 12:00:00.001"))
    # step 2's deadline (06-02 12:00) is before step 1's E_T: both steps at 06-04 00:00
    assert got == [("O1", "no_update_in_time", at("2022-06-04 00:00"))]
    assert reasons(order("2022-06-01 11:00", pick, "2022-06-02 11:00", scan="delivered")) == []


def test_step_2_comes_after_step_1_when_the_pickup_is_late_in_its_window() -> None:
    got = breaches(order("2022-06-02 09:00", "2022-06-03 09:00", None))
    assert [(v.details["reason"], v.decided_at, v.details["deadline"]) for v in got] == [
        ("no_update_in_time", at("2022-06-05 00:00"), at("2022-06-04 09:00"))
    ]


def test_an_update_scan_before_the_pickup_does_not_count() -> None:
    got = reasons(order("2022-06-01 11:00", "2022-06-01 12:00", "2022-06-01 11:59:59.999"))
    assert got == [("O1", "no_update_in_time", at("2022-06-04 00:00"))]


def test_an_update_in_the_same_millisecond_as_the_pickup_counts() -> None:
    assert reasons(order("2022-06-01 11:00", "2022-06-01 12:00", "2022-06-01 12:00")) == []


def test_the_breach_record_has_the_spec_fields() -> None:
    (verdict,) = breaches(order("2022-06-03 10:00:00.001", None, None))
    assert verdict.verdict_id == "campaign_fulfilment:breach:O1:618-2022"
    assert (verdict.kind, verdict.rule, verdict.period, verdict.subject) == (
        "breach",
        "campaign_fulfilment",
        "618-2022",
        "O1",
    )
    assert (verdict.shop_id, verdict.item_id) == ("S1", "I1")
    assert (verdict.window_start, verdict.window_end) == ("2022-05-31", "2022-06-20")
    assert (verdict.numerator, verdict.denominator, verdict.rate, verdict.threshold) == (
        0,
        1,
        0.0,
        1.0,
    )
    assert verdict.amount_cents == 0
    assert verdict.details == {
        "order_id": "O1",
        "paid_ts": at(PAID),
        "deadline": at("2022-06-03 10:00"),
        "reason": "not_shipped_in_time",
    }
    assert verdict.topic == "verdicts.breach"


def test_an_exempt_order_is_not_judged() -> None:
    events = order(None, None, None)
    events.append(exemption("2022-06-01 11:00", "2022-06-01 00:00", "2022-06-05 00:00"))
    assert reasons(events) == []


def test_an_order_refunded_before_shipment_is_not_judged() -> None:
    events = order("2022-06-03 12:00", None, None)
    events.append(refund("O1", "2022-06-02 10:00", reason="other"))
    assert reasons(events) == []
    assert reasons([*order(None, None, None), refund("O1", "2022-06-02 10:00")]) == []


def test_an_order_of_another_channel_is_not_a_campaign_order() -> None:
    assert reasons(order(None, None, None, channel="taote")) == []


def test_paid_from_is_inclusive_and_paid_before_exclusive_to_the_millisecond() -> None:
    events = [
        *order(None, None, None, oid="A", paid="2022-05-31 19:59:59.999"),
        *order(None, None, None, oid="B", paid="2022-05-31 20:00:00.000"),
        *order(None, None, None, oid="C", paid="2022-06-20 23:59:59.999"),
        *order(None, None, None, oid="D", paid="2022-06-21 00:00:00.000"),
    ]
    verdicts = run_sorted([*events, clock_tick("2022-06-30 00:00")], POLICY)
    assert [v.subject for v in verdicts if v.rule == "campaign_fulfilment"] == ["B", "C"]


def test_two_campaigns_over_one_order_give_two_breaches_in_period_order() -> None:
    other = replace(CAMPAIGN, name="00-flash", ship_within_ms=3_600_000)
    policy = replace(Policy(), campaigns=(CAMPAIGN, other))
    got = breaches(order("2022-06-01 12:00", "2022-06-01 13:00", None), policy)
    assert [(v.verdict_id, v.details["reason"], v.decided_at) for v in got] == [
        ("campaign_fulfilment:breach:O1:00-flash", "not_shipped_in_time", at("2022-06-04 00:00")),
        ("campaign_fulfilment:breach:O1:618-2022", "no_update_in_time", at("2022-06-04 00:00")),
    ]


def test_an_order_whose_step_has_not_come_when_the_input_ends_is_not_judged() -> None:
    events = [*order(None, None, None), clock_tick("2022-06-03 23:59:59.999")]
    assert run_sorted(events, POLICY) == []
    events = [*order(None, None, None), clock_tick("2022-06-04 00:00")]
    assert [v.kind for v in run_sorted(events, POLICY)] == ["breach"]


def test_a_pickup_on_a_later_shipments_waybill_does_not_count() -> None:
    events = order("2022-06-01 12:00", None, None)
    events += [
        shipment("O1", "2022-06-01 13:00", tracking="T2"),
        pickup("T2", "2022-06-01 14:00"),
        pickup("T2", "2022-06-01 15:00", scan="transit"),
    ]
    assert reasons(events) == [("O1", "no_pickup_in_time", at("2022-06-04 00:00"))]


def test_scans_before_the_shipment_are_kept_for_it() -> None:
    events = [
        payment("O1", PAID, channel="tmall"),
        pickup("T-O1", "2022-06-01 08:00"),
        pickup("T-O1", "2022-06-01 09:00", scan="transit"),
        pickup("T-O1", "2022-06-01 09:30", scan="transit"),
        shipment("O1", "2022-06-01 11:00"),
    ]
    assert reasons(events) == []


def test_without_campaigns_no_order_is_judged() -> None:
    assert breaches(order(None, None, None), Policy()) == []


def test_metrics_report_judged_and_kept_per_campaign_and_shop() -> None:
    from sellerwatch.streams.engine import Engine

    events = [
        *order("2022-06-02 09:00", "2022-06-02 12:00", "2022-06-03 01:00", oid="K"),
        *order(None, None, None, oid="B"),
        clock_tick(END),
    ]
    engine = Engine(POLICY, collect_evaluations=True)
    for event in sorted(events, key=lambda e: e.ts):
        engine.accept(event)
    engine.finish()
    figures = [
        (e.subject, e.period, e.decided_at, e.numerator, e.denominator, e.verdict)
        for e in engine.take_evaluations()
        if e.rule == "campaign_fulfilment"
    ]
    assert figures == [("S1", "618-2022", at("2022-06-04 00:00"), 1, 2, "breach")]


def test_a_snapshot_between_the_steps_restores_the_waiting_orders() -> None:
    from sellerwatch.streams.engine import Engine

    events = sorted(
        [
            *order("2022-06-02 09:00", "2022-06-03 09:00", None, oid="A"),
            *order("2022-06-02 09:00", "2022-06-03 09:00", "2022-06-03 10:00", oid="B"),
            # scans before the shipment: kept in the snapshot for it
            payment("C", PAID, channel="tmall"),
            pickup("T-C", "2022-06-03 08:00"),
            pickup("T-C", "2022-06-03 08:30", scan="transit"),
            shipment("C", "2022-06-03 09:00"),
            clock_tick(END),
        ],
        key=lambda e: e.ts,
    )
    cut = next(i for i, e in enumerate(events) if e.ts >= at("2022-06-03 08:15"))
    original = Engine(POLICY)
    for event in events[:cut]:
        original.accept(event)
    restored = Engine.restore(original.snapshot(), POLICY)
    for engine in (original, restored):
        for event in events[cut:]:
            engine.accept(event)
        engine.finish()
    got = restored.take_verdicts()
    assert got == original.take_verdicts()
    campaign = [(v.subject, v.details["reason"]) for v in got if v.rule == "campaign_fulfilment"]
    assert campaign == [("A", "no_update_in_time")]


def test_a_snapshot_written_before_campaigns_existed_still_restores() -> None:
    from sellerwatch.streams.engine import Engine

    engine = Engine()
    engine.accept(payment("O1", PAID, channel="tmall"))
    state = engine.__getstate__()
    del state["campaigns"]  # what an engine of the previous version wrote
    restored = Engine.__new__(Engine)
    restored.__setstate__(state)
    restored.accept(clock_tick(END))
    restored.finish()
    assert [v.rule for v in restored.take_verdicts()] == []

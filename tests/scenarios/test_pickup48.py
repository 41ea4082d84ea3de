"""SPEC §4.3: tag above 98% of eligible orders picked up within 48h; untag on change."""

from __future__ import annotations

from tests.builders import clock_tick, exemption, kinds, payment, pickup, run_sorted, shipment


def _day(n_total: int, n_fast: int, day: str = "2021-07-05", item: str = "I1") -> list:
    events = []
    for i in range(n_total):
        oid = f"{item}-{day}-{i}"
        events.append(payment(oid, f"{day} 10:00", item=item))
        events.append(shipment(oid, f"{day} 11:00"))
        fast = i < n_fast
        events.append(pickup(f"T-{oid}", f"{day} 12:00" if fast else "2021-07-09 10:00"))
    return events


def test_tag_at_98_1_percent_but_not_at_98() -> None:
    tagged = run_sorted([*_day(1000, 981), clock_tick("2021-07-08 00:00:01")])
    assert kinds(tagged) == [("tag", "I1", "2021-07-08")]
    assert (tagged[0].numerator, tagged[0].denominator) == (981, 1000)
    assert tagged[0].window_start == tagged[0].window_end == "2021-07-05"
    assert run_sorted([*_day(50, 49), clock_tick("2021-07-08 00:00:01")]) == []


def test_exactly_48h_pickup_counts() -> None:
    events = [
        payment("O1", "2021-07-05 10:00"),
        shipment("O1", "2021-07-05 11:00"),
        pickup("T-O1", "2021-07-07 10:00"),
        clock_tick("2021-07-08 00:00:01"),
    ]
    assert kinds(run_sorted(events)) == [("tag", "I1", "2021-07-08")]


def test_tag_then_untag_when_a_later_day_falls_short() -> None:
    events = [*_day(10, 10, "2021-07-05"), *_day(10, 5, "2021-07-06"), clock_tick("2021-07-12")]
    assert kinds(run_sorted(events)) == [("tag", "I1", "2021-07-08"), ("untag", "I1", "2021-07-09")]


def test_a_day_without_orders_keeps_the_tag() -> None:
    events = [*_day(10, 10, "2021-07-05"), clock_tick("2021-07-20")]
    assert kinds(run_sorted(events)) == [("tag", "I1", "2021-07-08")]


def test_an_active_exemption_removes_the_tag_even_without_orders() -> None:
    events = [
        *_day(10, 10, "2021-07-05"),
        exemption("2021-07-09 08:00", "2021-07-09 00:00", "2021-07-12 00:00"),
        clock_tick("2021-07-20"),
    ]
    verdicts = run_sorted(events)
    assert kinds(verdicts) == [("tag", "I1", "2021-07-08"), ("untag", "I1", "2021-07-10")]
    assert verdicts[1].denominator == 0 and verdicts[1].rate == 0.0


def test_region_exemptions_do_not_block_the_tag() -> None:
    events = [
        *_day(10, 10, "2021-07-05"),
        exemption(
            "2021-07-06 08:00", "2021-07-06 00:00", "2021-07-12", scope="region", region="R9"
        ),
        clock_tick("2021-07-20"),
    ]
    assert kinds(run_sorted(events)) == [("tag", "I1", "2021-07-08")]


def test_pickup_scan_arriving_before_its_shipment_still_counts() -> None:
    from tests.builders import run

    # The courier scans at 10:30, the seller clicks "shipped" at 11:00 (SPEC §2.1).
    events = [
        payment("O1", "2021-07-05 10:00"),
        pickup("T-O1", "2021-07-05 10:30"),
        shipment("O1", "2021-07-05 11:00"),
        clock_tick("2021-07-08 00:00:01"),
    ]
    assert kinds(run(events)) == [("tag", "I1", "2021-07-08")]
    # Out of order within the allowed lateness: the shipment arrives 2 minutes after the scan.
    swapped = [
        payment("O2", "2021-07-05 10:00", item="I2"),
        pickup("T-O2", "2021-07-05 11:02"),
        shipment("O2", "2021-07-05 11:00"),
        clock_tick("2021-07-08 00:00:01"),
    ]
    assert kinds(run(swapped)) == [("tag", "I2", "2021-07-08")]


def test_a_scan_more_than_7_days_before_shipment_does_not_join() -> None:
    events = [
        pickup("T-O1", "2021-06-27 10:59:59.999"),
        payment("O1", "2021-07-05 10:00"),
        shipment("O1", "2021-07-05 11:00"),
        clock_tick("2021-07-08 00:00:01"),
    ]
    assert run_sorted(events) == []

"""SPEC §4.2: 48h ship + 24h pickup, delist below 90% — the boundaries as written."""

from __future__ import annotations

from tests.builders import clock_tick, kinds, payment, pickup, run_sorted, shipment, subsidy


def _orders(n_total: int, n_on_time: int, day: str = "2021-07-05") -> list:
    events = [subsidy("I1", "2021-07-01 09:00")]
    for i in range(n_total):
        oid = f"O{i}"
        events.append(payment(oid, f"{day} 10:00"))
        late = i >= n_on_time
        events.append(shipment(oid, f"{day} 12:00" if not late else "2021-07-08 10:00:00.001"))
        events.append(pickup(f"T-{oid}", f"{day} 13:00" if not late else "2021-07-08 11:00"))
    return events


def test_delist_at_89_percent_but_not_at_90() -> None:
    delisted = run_sorted([*_orders(100, 89), clock_tick("2021-07-10 00:00:01")])
    assert kinds(delisted) == [("delist", "I1", "2021-07-09")]
    assert delisted[0].numerator == 89 and delisted[0].denominator == 100
    assert (delisted[0].window_start, delisted[0].window_end) == ("2021-06-29", "2021-07-05")
    kept = run_sorted([*_orders(100, 90), clock_tick("2021-07-20 00:00:01")])
    assert kept == []


def test_exactly_48h_to_ship_and_exactly_24h_to_pickup_count_as_on_time() -> None:
    events = [
        subsidy("I1", "2021-07-01 09:00"),
        payment("O1", "2021-07-05 10:00"),
        shipment("O1", "2021-07-07 10:00"),  # exactly 48h
        pickup("T-O1", "2021-07-08 10:00"),  # exactly 24h after shipment
        clock_tick("2021-07-20 00:00:01"),
    ]
    assert run_sorted(events) == []


def test_one_millisecond_over_48h_delists() -> None:
    events = [
        subsidy("I1", "2021-07-01 09:00"),
        payment("O1", "2021-07-05 10:00"),
        shipment("O1", "2021-07-07 10:00:00.001"),
        pickup("T-O1", "2021-07-07 11:00"),
        clock_tick("2021-07-20 00:00:01"),
    ]
    assert kinds(run_sorted(events)) == [("delist", "I1", "2021-07-09")]


def test_a_delisted_item_is_out_until_it_joins_again() -> None:
    events = [*_orders(10, 0), clock_tick("2021-07-20 00:00:01")]
    assert kinds(run_sorted(events)) == [("delist", "I1", "2021-07-09")]
    rejoined = [*events, subsidy("I1", "2021-07-09 00:00:00")]
    # A join at exactly the delist instant re-enters (SPEC §7), so the next day delists again.
    assert kinds(run_sorted(rejoined)) == [
        ("delist", "I1", "2021-07-09"),
        ("delist", "I1", "2021-07-10"),
    ]


def test_items_outside_the_activity_are_not_judged() -> None:
    events = [e for e in _orders(10, 0) if e.__class__.__name__ != "Subsidy"]
    assert run_sorted([*events, clock_tick("2021-07-20 00:00:01")]) == []

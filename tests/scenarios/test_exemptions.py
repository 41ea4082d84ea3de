"""SPEC §2.1: force-majeure exemptions must be filed within 48h of payment."""

from __future__ import annotations

from tests.builders import clock_tick, exemption, kinds, payment, run_sorted, subsidy


def _never_shipped(n: int) -> list:
    return [subsidy("I1", "2021-07-01")] + [
        payment(f"O{i}", "2021-07-05 10:00", region="R1") for i in range(n)
    ]


def test_an_exemption_filed_in_time_exempts_the_orders() -> None:
    events = [
        *_never_shipped(3),
        exemption("2021-07-07 10:00", "2021-07-05 00:00", "2021-07-06 00:00"),  # exactly 48h
        clock_tick("2021-07-20"),
    ]
    assert run_sorted(events) == []


def test_a_late_exemption_does_not_exempt() -> None:
    events = [
        *_never_shipped(3),
        exemption("2021-07-07 10:00:00.001", "2021-07-05 00:00", "2021-07-06 00:00"),
        clock_tick("2021-07-20"),
    ]
    assert kinds(run_sorted(events)) == [("delist", "I1", "2021-07-09")]


def test_item_and_region_scopes_match_only_their_orders() -> None:
    events = [
        *_never_shipped(2),
        exemption("2021-07-05 12:00", "2021-07-05", "2021-07-06", scope="item", item="I2"),
        exemption("2021-07-05 12:00", "2021-07-05", "2021-07-06", scope="region", region="R2"),
        clock_tick("2021-07-20"),
    ]
    assert kinds(run_sorted(events)) == [("delist", "I1", "2021-07-09")]
    covered = [
        *_never_shipped(2),
        exemption("2021-07-05 12:00", "2021-07-05", "2021-07-06", scope="region", region="R1"),
        clock_tick("2021-07-20"),
    ]
    assert run_sorted(covered) == []


def test_an_exemption_whose_validity_ends_at_payment_does_not_overlap() -> None:
    events = [
        *_never_shipped(1),
        exemption("2021-07-05 12:00", "2021-07-04 00:00", "2021-07-05 10:00"),  # end == paid
        clock_tick("2021-07-20"),
    ]
    assert kinds(run_sorted(events)) == [("delist", "I1", "2021-07-09")]

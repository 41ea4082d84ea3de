"""SPEC §1.1 and §5 promises, as named predicates checked by Hypothesis.

- reordering within the allowed lateness gives identical verdicts;
- ``in = applied + duplicate + late + rejected`` after every record;
- verdict ids are unique in a run.
"""

from __future__ import annotations

import random

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from sellerwatch.schemas.events import Event, Payment, PickupScan
from sellerwatch.schemas.verdict import Verdict
from sellerwatch.streams.campaigns import Campaign
from sellerwatch.streams.engine import Engine
from sellerwatch.streams.policy import Policy
from tests.builders import (
    CAL,
    enroll,
    exemption,
    payment,
    pickup,
    refund,
    shipment,
    subsidy,
)

L_MS = 5 * 60_000


def _workload(seed: int) -> list[Event]:
    """A few weeks of a small marketplace with every kind of fact, all ts distinct."""
    rng = random.Random(seed)
    events: list[Event] = []
    start = CAL.ordinal("2021-07-01")
    for shop in ("S1", "S2"):
        events.append(enroll(shop, "2021-06-25 09:00"))
    for item in ("I1", "I2", "I3", "I4"):
        events.append(subsidy(item, "2021-06-25 10:00"))
    events.append(exemption("2021-07-10 10:00", "2021-07-09", "2021-07-12", shop="S2"))
    for n in range(400):
        day = start + rng.randrange(21)
        hour, minute = rng.randrange(24), rng.randrange(60)
        paid = f"{CAL.iso(day)} {hour:02d}:{minute:02d}:{rng.randrange(60):02d}.{n % 1000:03d}"
        item = rng.choice(("I1", "I2", "I3", "I4"))
        shop = "S1" if item in ("I1", "I2") else "S2"
        oid = f"O{n}"
        events.append(payment(oid, paid, shop=shop, item=item, category="C" + item[-1:]))
        paid_ts = CAL.parse_local(paid)
        if rng.random() < 0.9:
            ship_ts = paid_ts + rng.randrange(-3_600_000, 80 * 3_600_000)
            tracking = f"T{n // 2}" if rng.random() < 0.3 else f"T-{oid}"
            events.append(_at(shipment(oid, paid, tracking=tracking), ship_ts))
            if rng.random() < 0.9:
                scan_ts = ship_ts + rng.randrange(-3_600_000, 40 * 3_600_000)
                events.append(_at(pickup(tracking, paid), scan_ts))
        if rng.random() < 0.25:
            refund_ts = paid_ts + rng.randrange(3_600_000, 20 * 86_400_000)
            reason = "quality" if item == "I3" or rng.random() < 0.3 else "other"
            events.append(_at(refund(oid, paid, reason=reason), refund_ts))
    # Distinct ts: the guarantee covers events with distinct ts (SPEC §7).
    seen: set[int] = set()
    unique = []
    for event in sorted(events, key=lambda e: e.ts):
        ts = event.ts
        while ts in seen:
            ts += 1
        seen.add(ts)
        unique.append(_at(event, ts))
    return unique


def _at(event: Event, ts: int) -> Event:
    import msgspec

    return msgspec.structs.replace(event, ts=ts)


def _run(events: list[Event], policy: Policy | None = None) -> tuple[list[Verdict], Engine]:
    engine = Engine(policy)
    for event in events:
        engine.accept(event)
        assert accounting_balanced(engine)
    engine.finish()
    return engine.take_verdicts(), engine


def accounting_balanced(engine: Engine) -> bool:
    """``in = applied + duplicate + late + rejected``."""
    return engine.accounting.balanced()


def ids_unique(verdicts: list[Verdict]) -> bool:
    """No verdict id appears twice in one run."""
    return len({v.verdict_id for v in verdicts}) == len(verdicts)


def bounded_shuffle(events: list[Event], rng: random.Random, bound_ms: int) -> list[Event]:
    """Delay each event by up to ``bound_ms``: none ends more than that behind the running max."""
    return [
        e
        for _, _, e in sorted(
            (e.ts + rng.randrange(bound_ms + 1), i, e) for i, e in enumerate(events)
        )
    ]


BASE = _workload(7)
SORTED_VERDICTS, _ = _run(BASE)


def test_the_workload_exercises_several_verdict_kinds() -> None:
    assert {v.kind for v in SORTED_VERDICTS} >= {"delist", "tag"}
    assert ids_unique(SORTED_VERDICTS)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_any_reordering_within_lateness_gives_identical_verdicts(seed: int) -> None:
    shuffled = bounded_shuffle(BASE, random.Random(seed), L_MS)
    verdicts, engine = _run(shuffled)
    assert engine.accounting.late == 0
    assert verdicts == SORTED_VERDICTS


@settings(max_examples=25, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**32),
    st.floats(min_value=0.0, max_value=0.3),
)
def test_duplicates_and_late_events_keep_the_books_balanced(seed: int, dup_rate: float) -> None:
    rng = random.Random(seed)
    # Retries are extra copies that arrive within 15 minutes of event time of the original.
    copies = [e for e in BASE if rng.random() < dup_rate]
    stream = bounded_shuffle(BASE + copies, rng, 3 * L_MS)
    verdicts, engine = _run(stream)
    a = engine.accounting
    assert a.records_in == len(stream)
    assert a.applied + a.late == len(BASE)
    assert ids_unique(verdicts)


# SPEC §4.6: a campaign over the workload's tmall orders, with transit/delivered scans (some
# before the pickup, some exactly at the 24 h limit), judged identically under any reordering.
CAMPAIGN_POLICY = Policy(
    campaigns=(
        Campaign(
            name="summer",
            channel="tmall",
            paid_from_ms=CAL.parse_local("2021-07-03 20:00:00"),
            paid_before_ms=CAL.parse_local("2021-07-18 00:00:00"),
        ),
    )
)


def _campaign_workload(seed: int) -> list[Event]:
    """The workload with a third of its orders on tmall and update scans on their waybills."""
    rng = random.Random(seed)
    events: list[Event] = []
    ts_used = {e.ts for e in BASE}
    for event in BASE:
        if isinstance(event, Payment) and rng.random() < 0.35:
            event = msgspec.structs.replace(event, channel="tmall")
        events.append(event)
        if isinstance(event, PickupScan) and rng.random() < 0.85:
            offset = rng.choice([-60_000, 0, 3_600_000, 86_400_000, 86_400_001, 30 * 3_600_000])
            ts = event.ts + offset
            while ts in ts_used:
                ts += 1
            ts_used.add(ts)
            scan = rng.choice(("transit", "delivered"))
            events.append(
                msgspec.structs.replace(event, event_id=f"u-{event.event_id}", ts=ts, scan=scan)
            )
    return sorted(events, key=lambda e: e.ts)


CAMPAIGN_BASE = _campaign_workload(11)
CAMPAIGN_VERDICTS, _ = _run(CAMPAIGN_BASE, CAMPAIGN_POLICY)


def test_the_campaign_workload_has_breaches_of_every_reason() -> None:
    reasons = {v.details["reason"] for v in CAMPAIGN_VERDICTS if v.kind == "breach"}
    assert reasons == {"not_shipped_in_time", "no_pickup_in_time", "no_update_in_time"}
    assert ids_unique(CAMPAIGN_VERDICTS)


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_campaign_verdicts_are_identical_under_any_reordering_within_lateness(seed: int) -> None:
    shuffled = bounded_shuffle(CAMPAIGN_BASE, random.Random(seed), L_MS)
    verdicts, engine = _run(shuffled, CAMPAIGN_POLICY)
    assert engine.accounting.late == 0
    assert verdicts == CAMPAIGN_VERDICTS

"""§4.1 ``same_day_ship``: the 17:00/20:00 rule and its weekly per-package incentive (seed 000).

Per shop and week (Monday–Sunday, local), over ``channel = taote`` orders that the shop's plan
counted at ``paid_ts``:

- deadline: paid before 17:00 local → 20:00 the same day, else 20:00 the next day;
- ``Y`` = counted orders / 7; ``d`` = counted and timeliness-eligible (no category exclusions);
- ``n`` = of ``d``, official logistics, ``ship_ts <= deadline`` and a pickup;
- at ``E`` = Monday + 9 days: ``incentive`` when ``d >= 1``, ``n/d >= 0.85`` and a tier applies,
  ``amount = cents × distinct tracking numbers`` of counted official orders with a pickup.
"""

from __future__ import annotations

from fractions import Fraction

from schemas.verdict import Verdict
from streams.rates import at_least
from streams.state import State

RULE = "same_day_ship"


def week_to_settle(state: State, day: int) -> int | None:
    """The Monday of the week evaluated at ``E_day``, if ``day`` is such a settle day."""
    offset = 7 + state.policy.same_day_ship.settle_delay_days
    monday = day - offset
    return monday if state.calendar.weekday(monday) == 0 else None


def evaluate(state: State, day: int, decided_at: int) -> list[Verdict]:
    """Settle the week that ends ``settle_delay`` days before ``day`` (if ``day`` is one)."""
    monday = week_to_settle(state, day)
    if monday is None:
        return []
    shops = state.book.taote_weeks.pop(monday, None)
    if not shops:
        return []
    settings = state.policy.same_day_ship
    calendar, plan = state.calendar, state.plan
    cut_h, cut_m = settings.cutoff
    by_h, by_m = settings.ship_by
    cutoffs = {d: calendar.at(d, cut_h, cut_m) for d in range(monday, monday + 7)}
    deadlines = {d: calendar.at(d, by_h, by_m) for d in range(monday, monday + 8)}
    no_exclusions: frozenset[str] = frozenset()
    verdicts = []
    for shop_id in sorted(shops):
        count = d = n = 0
        packages: set[str] = set()
        for order in shops[shop_id]:
            if not plan.counts(shop_id, order.paid_ts):
                continue
            count += 1
            picked_official = order.official and order.pickup_ts is not None
            if picked_official:
                packages.add(order.tracking_no)  # type: ignore[arg-type]
            if not state.timeliness_eligible(order, no_exclusions, decided_at):
                continue
            d += 1
            if not picked_official:
                continue
            paid_day = order.paid_day
            deadline = deadlines[paid_day if order.paid_ts < cutoffs[paid_day] else paid_day + 1]
            if order.ship_ts is not None and order.ship_ts <= deadline:
                n += 1
        if count == 0:
            continue
        daily_avg = Fraction(count, 7)
        cents = next(
            (t.cents_per_package for t in settings.tiers if daily_avg >= t.min_daily_avg), 0
        )
        earns = d >= 1 and at_least(n, d, settings.min_rate) and cents > 0
        if state.collect_evaluations:
            state.evaluated(
                RULE,
                shop_id,
                calendar.iso(monday),
                decided_at,
                n,
                d,
                "incentive" if earns else None,
            )
        if earns:
            verdicts.append(
                state.verdict(
                    rule=RULE,
                    kind="incentive",
                    shop_id=shop_id,
                    item_id=None,
                    day=monday,
                    decided_at=decided_at,
                    window=(monday, monday + 6),
                    n=n,
                    d=d,
                    threshold=float(settings.min_rate),
                    amount_cents=cents * len(packages),
                    details={
                        "packages": len(packages),
                        "daily_avg_orders": count / 7,
                        "cents_per_package": cents,
                    },
                )
            )
    return verdicts

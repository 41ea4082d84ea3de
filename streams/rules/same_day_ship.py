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

from dataclasses import dataclass, field
from fractions import Fraction

from sellerwatch.schemas.verdict import Verdict
from sellerwatch.streams.orders import Order
from sellerwatch.streams.rates import at_least
from sellerwatch.streams.rules.steps import Partition, Steps
from sellerwatch.streams.state import State

RULE = "same_day_ship"


def week_to_settle(state: State, day: int) -> int | None:
    """The Monday of the week evaluated at ``E_day``, if ``day`` is such a settle day."""
    offset = 7 + state.policy.same_day_ship.settle_delay_days
    monday = day - offset
    return monday if state.calendar.weekday(monday) == 0 else None


@dataclass
class ShopWeek:
    """One shop's figures for a settled week, as one partition of the orders saw them.

    Figures of several partitions merge by :meth:`add`: counts add up and packages (distinct
    waybills, which a parcel of several items can share across partitions) are unioned.
    """

    count: int = 0
    d: int = 0
    n: int = 0
    packages: set[str] = field(default_factory=set)
    #: the orders of ``d`` and of ``n``, kept only when the driver asked for evidence
    counted: list[Order] | None = None
    kept: list[Order] | None = None

    def add(self, other: ShopWeek) -> None:
        """Merge another partition's figures for the same shop and week."""
        self.count += other.count
        self.d += other.d
        self.n += other.n
        self.packages |= other.packages
        if self.counted is not None and other.counted is not None:
            self.counted += other.counted
        if self.kept is not None and other.kept is not None:
            self.kept += other.kept


def week_figures(state: State, day: int, decided_at: int) -> dict[str, ShopWeek]:
    """Per shop, the figures of the week settled at ``E_day`` over this state's orders.

    Empty unless ``day`` is a settle day; the week's orders leave the book (nothing else
    reads them).
    """
    monday = week_to_settle(state, day)
    if monday is None:
        return {}
    shops = state.book.taote_weeks.pop(monday, None)
    if not shops:
        return {}
    settings = state.policy.same_day_ship
    calendar, plan = state.calendar, state.plan
    cut_h, cut_m = settings.cutoff
    by_h, by_m = settings.ship_by
    cutoffs = {d: calendar.at(d, cut_h, cut_m) for d in range(monday, monday + 7)}
    deadlines = {d: calendar.at(d, by_h, by_m) for d in range(monday, monday + 8)}
    no_exclusions: frozenset[str] = frozenset()
    figures: dict[str, ShopWeek] = {}
    evidence = state.collect_evidence
    for shop_id, orders in shops.items():
        week = ShopWeek(counted=[], kept=[]) if evidence else ShopWeek()
        for order in orders:
            if not plan.counts(shop_id, order.paid_ts):
                continue
            week.count += 1
            picked_official = order.official and order.pickup_ts is not None
            if picked_official:
                week.packages.add(order.tracking_no)  # type: ignore[arg-type]
            if not state.timeliness_eligible(order, no_exclusions, decided_at):
                continue
            week.d += 1
            if week.counted is not None:
                week.counted.append(order)
            if not picked_official:
                continue
            paid_day = order.paid_day
            deadline = deadlines[paid_day if order.paid_ts < cutoffs[paid_day] else paid_day + 1]
            if order.ship_ts is not None and order.ship_ts <= deadline:
                week.n += 1
                if week.kept is not None:
                    week.kept.append(order)
        if week.count:
            figures[shop_id] = week
    return figures


def merge_weeks(per_shard: list[dict[str, ShopWeek]]) -> dict[str, ShopWeek]:
    """Every shard's figures of the settled week, merged per shop (one shard: its own)."""
    if len(per_shard) == 1:
        return per_shard[0]
    merged: dict[str, ShopWeek] = {}
    for figures in per_shard:
        for shop_id, week in figures.items():
            mine = merged.get(shop_id)
            if mine is None:
                merged[shop_id] = week
            else:
                mine.add(week)
    return merged


def settle(state: State, day: int, decided_at: int, figures: dict[str, ShopWeek]) -> list[Verdict]:
    """Judge every shop's (merged) figures of the week settled at ``E_day``."""
    if not figures:
        return []
    monday = week_to_settle(state, day)
    assert monday is not None  # noqa: S101 - figures exist only on a settle day
    settings = state.policy.same_day_ship
    calendar = state.calendar
    verdicts = []
    for shop_id in sorted(figures):
        week = figures[shop_id]
        count, d, n, packages = week.count, week.d, week.n, week.packages
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
            verdict = state.verdict(
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
            verdicts.append(verdict)
            if week.counted is not None and week.kept is not None:
                state.evidenced(
                    verdict,
                    week.counted,
                    week.kept,
                    {
                        "packages": sorted(packages),
                        "orders_counted_by_plan": count,
                        "cutoff": "{:02d}:{:02d}".format(*settings.cutoff),
                        "ship_by": "{:02d}:{:02d}".format(*settings.ship_by),
                    },
                )
    return verdicts


def _partial(partition: Partition, day: int, decided_at: int) -> dict[str, ShopWeek]:
    return week_figures(partition.state, day, decided_at)


#: Per shop: each partition counts its share of the shop's week, the shares are merged and the
#: week is settled on the merged figures.
STEPS = Steps(RULE, partial=_partial, combine=merge_weeks, settle=settle)

"""§4.2 ``ship48_pickup24``: 48h-ship + 24h-pickup rate, delist from the subsidy (seed 001).

At ``E_T``, for each item in the subsidy activity at ``E_T``, over its orders paid on local
dates ``T-10 … T-4`` (every order in it fully decided):

- ``d``: timeliness-eligible orders (minus excluded categories);
- ``n``: of ``d``, ``ship_ts - paid_ts <= 48h`` and ``pickup_ts - ship_ts <= 24h``;
- ``delist`` when ``d >= min_orders`` and ``n/d < 0.90``; the item is out from then on.
"""

from __future__ import annotations

from sellerwatch.schemas.verdict import Verdict
from sellerwatch.streams.orders import Bucket, Order
from sellerwatch.streams.rates import below
from sellerwatch.streams.rules.steps import Partition, Steps
from sellerwatch.streams.state import State

RULE = "ship48_pickup24"


def window(state: State, day: int) -> tuple[int, int]:
    """First and last paid day of the window evaluated at ``E_day``, inclusive."""
    settings = state.policy.ship48_pickup24
    last = day - settings.lag_days
    return last - settings.window_days + 1, last


def judge(
    state: State,
    orders: list[Order],
    decided_at: int,
    counted: list[Order] | None = None,
    kept: list[Order] | None = None,
) -> tuple[int, int]:
    """``(d, n)`` of ``orders`` at ``decided_at``; the orders themselves go to ``counted``
    (``d``) and ``kept`` (``n``) when given (the evidence of a verdict)."""
    settings = state.policy.ship48_pickup24
    ship_ms, pickup_ms = settings.ship_within_ms, settings.pickup_within_ms
    excluded = settings.excluded_categories
    d = n = 0
    for order in orders:
        if not state.timeliness_eligible(order, excluded, decided_at):
            continue
        d += 1
        if counted is not None:
            counted.append(order)
        ship_ts, pickup_ts = order.ship_ts, order.pickup_ts
        if (
            ship_ts is not None
            and pickup_ts is not None
            and ship_ts - order.paid_ts <= ship_ms
            and pickup_ts - ship_ts <= pickup_ms
        ):
            n += 1
            if kept is not None:
                kept.append(order)
    return d, n


class BucketCounts:
    """This rule's ``(d, n)`` of each (paid day, item) bucket as last counted, with the
    bucket's ``changes`` then. A bucket sits in seven consecutive windows and is recounted only
    when a fact of its orders arrived since, or while an exemption can still be filed for its
    last order (then its count is kept as ``-1`` changes: never current)."""

    def __init__(self) -> None:
        """Nothing counted."""
        self.by_day: dict[int, dict[str, tuple[int, int, int]]] = {}

    def counted(
        self, state: State, paid_day: int, item_id: str, bucket: Bucket, decided_at: int
    ) -> tuple[int, int, int]:
        """``(changes, d, n)`` of the bucket, recounted by :func:`judge` if out of date."""
        day = self.by_day.get(paid_day)
        if day is None:
            day = self.by_day[paid_day] = {}
        entry = day.get(item_id)
        if entry is None or entry[0] != bucket.changes:
            d, n = judge(state, bucket.orders, decided_at)
            open_to_reports = (
                decided_at <= bucket.orders[-1].paid_ts + state.exemptions.report_within_ms
            )
            entry = day[item_id] = (-1 if open_to_reports else bucket.changes, d, n)
        return entry

    def forget_before(self, paid_day: int) -> None:
        """Drop the counts of days no later window reads (windows only move forward)."""
        for old in [d for d in self.by_day if d < paid_day]:
            del self.by_day[old]


def _evidence(state: State, verdict: Verdict, first: int, last: int, decided_at: int) -> None:
    """The orders behind a delist, judged again by :func:`judge` as the counts were."""
    counted: list[Order] = []
    kept: list[Order] = []
    assert verdict.item_id is not None  # noqa: S101 - a delist is about an item
    buckets = state.book.items[verdict.item_id].buckets
    for paid_day in range(first, last + 1):
        bucket = buckets.get(paid_day)
        if bucket is not None:
            judge(state, bucket.orders, decided_at, counted, kept)
    settings = state.policy.ship48_pickup24
    limits = {
        "ship_within_ms": settings.ship_within_ms,
        "pickup_within_ms": settings.pickup_within_ms,
        "min_orders": settings.min_orders,
    }
    state.evidenced(verdict, counted, kept, limits)


def evaluate(state: State, counts: BucketCounts, day: int, decided_at: int) -> list[Verdict]:
    """Judge every item in the activity that has orders in the window; returns delists."""
    settings = state.policy.ship48_pickup24
    first, last = window(state, day)
    active = state.subsidies.active
    counted = counts.counted
    totals: dict[str, list[int]] = {}
    for paid_day in range(first, last + 1):
        for item_id, bucket in state.book.days.get(paid_day, {}).items():
            if not active(item_id):
                continue
            _, bucket_d, bucket_n = counted(state, paid_day, item_id, bucket, decided_at)
            total = totals.get(item_id)
            if total is None:
                totals[item_id] = [bucket_d, bucket_n]
            else:
                total[0] += bucket_d
                total[1] += bucket_n
    counts.forget_before(first)
    verdicts = []
    period = state.calendar.iso(day)
    for item_id in sorted(totals):
        d, n = totals[item_id]
        delist = d >= settings.min_orders and below(n, d, settings.max_rate)
        if state.collect_evaluations and d:
            state.evaluated(RULE, item_id, period, decided_at, n, d, "delist" if delist else None)
        if delist:
            verdict = state.verdict(
                rule=RULE,
                kind="delist",
                shop_id=state.book.items[item_id].shop_id,
                item_id=item_id,
                day=day,
                decided_at=decided_at,
                window=(first, last),
                n=n,
                d=d,
                threshold=float(settings.max_rate),
            )
            verdicts.append(verdict)
            if state.collect_evidence:
                _evidence(state, verdict, first, last, decided_at)
    return verdicts


def warn(state: State, day: int, decided_at: int) -> None:
    """Early warnings at ``E_day``: every item in the activity that, if nothing else arrived,
    would be delisted at a later evaluation whose window holds orders already paid — at the
    first such evaluation, with its figures (:meth:`streams.state.State.warned`).

    "Nothing else arrives": no new order, shipment, scan, refund or report, so an order not
    shipped or picked up yet counts as late. Each bucket is judged once, by :func:`judge`, at
    ``decided_at`` (the instant the rules just ran at, so no cached fact changes).
    """
    settings = state.policy.ship48_pickup24
    span = settings.lag_days + settings.window_days - 1
    active = state.subsidies.active
    # item -> paid day -> (d, n), over the paid days some later window still reads
    per_day: dict[str, dict[int, tuple[int, int]]] = {}
    for paid_day in range(day - span, day):
        for item_id, bucket in state.book.days.get(paid_day, {}).items():
            if active(item_id):
                per_day.setdefault(item_id, {})[paid_day] = judge(state, bucket.orders, decided_at)
    for item_id in sorted(per_day):
        days = per_day[item_id]
        for later in range(day + 1, day + span + 1):
            first, last = window(state, later)
            d = n = 0
            for paid_day in range(first, last + 1):
                figures = days.get(paid_day)
                if figures is not None:
                    d += figures[0]
                    n += figures[1]
            if d >= settings.min_orders and below(n, d, settings.max_rate):
                state.warned(
                    rule=RULE,
                    kind="delist",
                    shop_id=state.book.items[item_id].shop_id,
                    item_id=item_id,
                    warned_at=decided_at,
                    day=later,
                    window=(first, last),
                    n=n,
                    d=d,
                    threshold=float(settings.max_rate),
                )
                break


def _decide(partition: Partition, day: int, decided_at: int, totals: None) -> list[Verdict]:
    return evaluate(partition.state, partition.ship48, day, decided_at)


#: Per item: decided in the item's partition alone.
STEPS = Steps(RULE, decide=_decide)

"""§4.3 ``pickup48``: 48h pickup-rate tag (seed 004).

At ``E_T``, over each item's timeliness-eligible orders paid on local date ``T-3``:
``n`` = of ``d``, ``pickup_ts - paid_ts <= 48h``. Desired state: tagged iff ``d >= 1``,
``n/d > 0.98`` and no active shop- or item-scope exemption of the item's shop; with ``d = 0``
the state stays, except that an active exemption removes a tag. Verdicts on change only.
Evaluated items: those with an order paid on ``T-3`` plus every tagged item (no subsidy needed).
"""

from __future__ import annotations

from sellerwatch.schemas.verdict import Verdict
from sellerwatch.streams.orders import Order
from sellerwatch.streams.rates import above
from sellerwatch.streams.rules.steps import Partition, Steps
from sellerwatch.streams.state import State

RULE = "pickup48"


class TagState:
    """The set of items currently tagged; items start untagged."""

    def __init__(self) -> None:
        """No item tagged."""
        self.tagged: set[str] = set()


def judge(
    state: State,
    orders: list[Order],
    decided_at: int,
    counted: list[Order] | None = None,
    kept: list[Order] | None = None,
) -> tuple[int, int]:
    """``(d, n)`` of one item's orders of ``T-3`` at ``decided_at``; the orders themselves go
    to ``counted`` (``d``) and ``kept`` (``n``) when given (the evidence of a verdict)."""
    settings = state.policy.pickup48
    excluded, within = settings.excluded_categories, settings.pickup_within_ms
    d = n = 0
    for order in orders:
        if state.timeliness_eligible(order, excluded, decided_at):
            d += 1
            if counted is not None:
                counted.append(order)
            if order.pickup_ts is not None and order.pickup_ts - order.paid_ts <= within:
                n += 1
                if kept is not None:
                    kept.append(order)
    return d, n


def evaluate(state: State, tags: TagState, day: int, decided_at: int) -> list[Verdict]:
    """Judge items paid on ``T-3`` and tagged items; returns tag/untag verdicts."""
    settings = state.policy.pickup48
    paid_day = day - settings.lag_days
    buckets = state.book.days.get(paid_day, {})
    verdicts = []
    period = state.calendar.iso(day)
    # A tagged item without orders on T-3 keeps its tag unless an exemption is active, so
    # tagged items are only visited on days when some shop- or item-scope report is active.
    tagged = tags.tagged if state.exemptions.any_active(decided_at) else set()
    for item_id in sorted(buckets.keys() | tagged):
        bucket = buckets.get(item_id)
        d, n = judge(state, bucket.orders, decided_at) if bucket is not None else (0, 0)
        item = state.book.items[item_id]
        exempted = state.exemptions.active_for_item(item.shop_id, item_id, decided_at)
        was = item_id in tags.tagged
        if d >= 1:
            want = above(n, d, settings.tag_above) and not exempted
        else:
            want = was and not exempted
        kind = None if want == was else ("tag" if want else "untag")
        if state.collect_evaluations and (d or kind):
            state.evaluated(RULE, item_id, period, decided_at, n, d, kind)
        if kind is None:
            continue
        if want:
            tags.tagged.add(item_id)
        else:
            tags.tagged.discard(item_id)
        verdict = state.verdict(
            rule=RULE,
            kind=kind,
            shop_id=item.shop_id,
            item_id=item_id,
            day=day,
            decided_at=decided_at,
            window=(paid_day, paid_day),
            n=n,
            d=d,
            threshold=float(settings.tag_above),
        )
        verdicts.append(verdict)
        if state.collect_evidence:
            counted: list[Order] = []
            kept: list[Order] = []
            if bucket is not None:
                judge(state, bucket.orders, decided_at, counted, kept)
            limits = {"pickup_within_ms": settings.pickup_within_ms}
            state.evidenced(verdict, counted, kept, limits)
    return verdicts


def _decide(partition: Partition, day: int, decided_at: int, totals: None) -> list[Verdict]:
    return evaluate(partition.state, partition.tags, day, decided_at)


#: Per item: decided in the item's partition alone.
STEPS = Steps(RULE, decide=_decide)

"""§4.4 ``quality_refund``: quality-refund rate vs leaf category, 7-day observation, fine.

At ``E_T``, over orders paid on ``T-30 … T-1`` (each counted for its sale day):
``exceed(T)`` ⇔ the item is in scope (in the subsidy activity, or left it at most 30 days ago),
``d_i >= 1``, ``n_i >= 6`` and ``n_i/d_i > 1.5 · n_c/d_c``. Per item a state machine:

============================  =========================================================
state and day T               then
============================  =========================================================
monitoring, exceed            ``observing(T, 1)``, verdict ``watch``
observing, exceed             strikes + 1; at 3 strikes ``fine`` and back to monitoring
observing, T = start + 6      back to monitoring (unless fined the same day)
============================  =========================================================

Within one day: add the strike, check for a fine, then for the end; no new observation opens
on a fine day or an end day. Counts include every paid order (no eligibility filter).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from schemas.verdict import Verdict
from streams.orders import QualityCount
from streams.state import State

RULE = "quality_refund"


@dataclass
class Observation:
    """An open observation: its first day (ordinal) and strikes so far."""

    start_day: int
    strikes: int


class QualityState:
    """Items under observation; every other item is monitoring."""

    def __init__(self) -> None:
        """Nothing observed."""
        self.observing: dict[str, Observation] = {}


def window(state: State, day: int) -> tuple[int, int]:
    """First and last paid day of the window evaluated at ``E_day``, inclusive."""
    return day - state.policy.quality_refund.window_days, day - 1


def category_totals(states: list[State]) -> dict[str, QualityCount]:
    """The categories' window counts summed over partitions: a category spans many items,
    so each partition holds only its share of them. One state's counts are the totals."""
    if len(states) == 1:
        return states[0].book.category_q
    totals: dict[str, QualityCount] = {}
    for state in states:
        for category_id, count in state.book.category_q.items():
            total = totals.get(category_id)
            if total is None:
                total = totals[category_id] = QualityCount()
            total.d += count.d
            total.n += count.n
    return totals


def evaluate(
    state: State,
    quality: QualityState,
    day: int,
    decided_at: int,
    categories: Mapping[str, QualityCount],
) -> list[Verdict]:
    """Advance every candidate item's state machine by day ``day``; returns watch/fine verdicts.

    The engine keeps ``state.book``'s running window counts at ``window(state, day)``;
    ``categories`` are the categories' counts over every partition (:func:`category_totals`).
    """
    settings = state.policy.quality_refund
    book, subsidies = state.book, state.subsidies
    item_q = book.item_q
    ratio = settings.ratio
    candidates = {
        item_id
        for item_id, count in item_q.items()
        if item_id in subsidies.items
        and (state.collect_evaluations or count.n >= settings.min_quality_refunds)
    }
    candidates.update(quality.observing)
    first, last = window(state, day)
    period = state.calendar.iso(day)
    verdicts = []
    for item_id in sorted(candidates):
        count = item_q.get(item_id)
        d_i, n_i = (count.d, count.n) if count is not None else (0, 0)
        item = book.items[item_id]
        category = categories.get(item.category_id)
        d_c, n_c = (category.d, category.n) if category is not None else (0, 0)
        exceed = (
            d_i >= 1
            and n_i >= settings.min_quality_refunds
            and subsidies.in_scope(item_id, decided_at, settings.scope_after_exit_ms)
            and n_i * d_c * ratio.denominator > ratio.numerator * n_c * d_i
        )
        kind = None
        observation = quality.observing.get(item_id)
        if observation is None:
            if exceed:
                observation = quality.observing[item_id] = Observation(day, 1)
                kind = "watch"
        else:
            if exceed:
                observation.strikes += 1
            if observation.strikes >= settings.strikes:
                kind = "fine"
                del quality.observing[item_id]
            elif day >= observation.start_day + settings.observe_days - 1:
                del quality.observing[item_id]
        if state.collect_evaluations and (d_i or kind):
            state.evaluated(RULE, item_id, period, decided_at, n_i, d_i, kind)
        if kind is None:
            continue
        assert observation is not None  # noqa: S101 - a watch or fine has an observation
        verdict = state.verdict(
            rule=RULE,
            kind=kind,
            shop_id=item.shop_id,
            item_id=item_id,
            day=day,
            decided_at=decided_at,
            window=(first, last),
            n=n_i,
            d=d_i,
            threshold=float(ratio),
            amount_cents=settings.fine_cents if kind == "fine" else 0,
            details={
                "category_id": item.category_id,
                "category_numerator": n_c,
                "category_denominator": d_c,
                "strikes": observation.strikes,
                "observation_start": state.calendar.iso(observation.start_day),
            },
        )
        verdicts.append(verdict)
        if state.collect_evidence:
            _evidence(state, verdict, first, last)
    return verdicts


def _evidence(state: State, verdict: Verdict, first: int, last: int) -> None:
    """The orders behind a watch or fine: the item's orders paid in the window (``d_i``) and
    those refunded for quality in time (``n_i``), as the running counts hold them."""
    assert verdict.item_id is not None  # noqa: S101 - a watch or fine is about an item
    buckets = state.book.items[verdict.item_id].buckets
    counted = [
        order
        for paid_day in range(first, last + 1)
        if paid_day in buckets
        for order in buckets[paid_day].orders
    ]
    settings = state.policy.quality_refund
    details: dict[str, object] = {
        key: verdict.details[key]
        for key in ("category_id", "category_numerator", "category_denominator", "strikes")
    }
    details["refund_within_ms"] = settings.refund_within_ms
    details["min_quality_refunds"] = settings.min_quality_refunds
    state.evidenced(verdict, counted, [order for order in counted if order.quality], details)

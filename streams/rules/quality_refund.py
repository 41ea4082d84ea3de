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

from sellerwatch.schemas.verdict import Verdict
from sellerwatch.streams.orders import Bucket, Order
from sellerwatch.streams.policy import QualityRefund
from sellerwatch.streams.rules.steps import Partition, Steps
from sellerwatch.streams.state import State

RULE = "quality_refund"


@dataclass
class Observation:
    """An open observation: its first day (ordinal) and strikes so far."""

    start_day: int
    strikes: int


class QualityCount:
    """Running ``[d, n]`` of the quality-refund window for one item or category."""

    __slots__ = ("d", "n")

    def __init__(self) -> None:
        """Zero counts."""
        self.d = 0
        self.n = 0


class QualityWindow:
    """The running ``[d, n]`` per item and per category over the paid days ``lo … hi`` of the
    window evaluated next, kept as the book applies events (it is the book's ``watch``) and
    moved one day at a time, so an evaluation reads counts instead of walking 30 days of
    orders. A partition holds its items' counts and its share of each category's."""

    __slots__ = ("lo", "hi", "items", "categories")

    def __init__(self) -> None:
        """No window yet (``lo > hi``): nothing is counted until the first :meth:`move`."""
        self.lo = 0
        self.hi = -1
        self.items: dict[str, QualityCount] = {}
        self.categories: dict[str, QualityCount] = {}

    def paid(self, order: Order) -> None:
        """A new order paid in the window counts in ``d``."""
        if self.lo <= order.paid_day <= self.hi:
            _count_of(self.items, order.item_id).d += 1
            _count_of(self.categories, order.category_id).d += 1

    def refunded_for_quality(self, order: Order) -> None:
        """An order of the window refunded for quality in time counts in ``n``."""
        if self.lo <= order.paid_day <= self.hi:
            _count_of(self.items, order.item_id).n += 1
            _count_of(self.categories, order.category_id).n += 1

    def move(self, days: dict[int, dict[str, Bucket]], lo_day: int, hi_day: int) -> None:
        """Move to paid days ``lo_day … hi_day`` (inclusive) of the book's ``days``: the days
        that leave are subtracted, those that enter added (all recounted when none overlap)."""
        if hi_day < self.lo or lo_day > self.hi or self.hi < self.lo:
            self.items.clear()
            self.categories.clear()
            for day in range(lo_day, hi_day + 1):
                self._count_day(days, day, +1)
        else:
            for day in range(self.lo, lo_day):
                self._count_day(days, day, -1)
            for day in range(self.hi + 1, hi_day + 1):
                self._count_day(days, day, +1)
        self.lo, self.hi = lo_day, hi_day

    def _count_day(self, days: dict[int, dict[str, Bucket]], day: int, sign: int) -> None:
        items, categories = self.items, self.categories
        for item_id, bucket in days.get(day, {}).items():
            item_count = _count_of(items, item_id)
            for order in bucket.orders:
                category = _count_of(categories, order.category_id)
                item_count.d += sign
                category.d += sign
                if order.quality:
                    item_count.n += sign
                    category.n += sign
                if category.d == 0:
                    del categories[order.category_id]
            if item_count.d == 0:
                del items[item_id]


def _count_of(counts: dict[str, QualityCount], key: str) -> QualityCount:
    count = counts.get(key)
    if count is None:
        count = counts[key] = QualityCount()
    return count


class QualityState:
    """Items under observation (every other item is monitoring) and the window's counts."""

    def __init__(self) -> None:
        """Nothing observed, no window yet."""
        self.observing: dict[str, Observation] = {}
        self.window = QualityWindow()


def exceeds(settings: QualityRefund, d_i: int, n_i: int, d_c: int, n_c: int) -> bool:
    """``exceed`` of an item in scope: ``d_i >= 1``, ``n_i >= 6`` and ``n_i/d_i > 1.5·n_c/d_c``."""
    ratio = settings.ratio
    return (
        d_i >= 1
        and n_i >= settings.min_quality_refunds
        and n_i * d_c * ratio.denominator > ratio.numerator * n_c * d_i
    )


def step(
    settings: QualityRefund, observation: Observation | None, exceed: bool, day: int
) -> tuple[Observation | None, Observation | None, str | None]:
    """One day of an item's state machine (the table above): the observation after day
    ``day`` (``None``: monitoring), the one the day's verdict is about, and the verdict kind."""
    if observation is None:
        if not exceed:
            return None, None, None
        opened = Observation(day, 1)
        return opened, opened, "watch"
    current = Observation(observation.start_day, observation.strikes + exceed)
    if current.strikes >= settings.strikes:
        return None, current, "fine"
    if day >= current.start_day + settings.observe_days - 1:
        return None, current, None
    return current, current, None


def window(state: State, day: int) -> tuple[int, int]:
    """First and last paid day of the window evaluated at ``E_day``, inclusive."""
    return day - state.policy.quality_refund.window_days, day - 1


def sum_categories(per_partition: list[dict[str, QualityCount]]) -> dict[str, QualityCount]:
    """The categories' window counts summed over partitions: a category spans many items,
    so each partition holds only its share of them. One partition's counts are the totals."""
    if len(per_partition) == 1:
        return per_partition[0]
    totals: dict[str, QualityCount] = {}
    for counts in per_partition:
        for category_id, count in counts.items():
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

    The engine keeps ``quality.window`` at ``window(state, day)``; ``categories`` are the
    categories' counts over every partition (:func:`sum_categories`).
    """
    settings = state.policy.quality_refund
    book, subsidies = state.book, state.subsidies
    item_q = quality.window.items
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
        in_scope = subsidies.in_scope(item_id, decided_at, settings.scope_after_exit_ms)
        exceed = in_scope and exceeds(settings, d_i, n_i, d_c, n_c)
        after, observation, kind = step(settings, quality.observing.get(item_id), exceed, day)
        if after is None:
            quality.observing.pop(item_id, None)
        else:
            quality.observing[item_id] = after
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


def lookahead_days(state: State) -> int:
    """Days after ``E_day`` whose fines :func:`warn` foresees: a watch opened tomorrow and
    the last day of its observation (13 with the SPEC's 7-day observation)."""
    return 2 * state.policy.quality_refund.observe_days - 1


def leaving_counts(state: State, day: int) -> tuple[DayCounts, DayCounts]:
    """Per item and per category, the ``[d, n]`` of each paid day that leaves the window in
    the next :func:`lookahead_days` evaluations after ``E_day`` (oldest first)."""
    first = window(state, day)[0]
    items: DayCounts = {}
    categories: DayCounts = {}
    horizon = lookahead_days(state)
    for offset in range(horizon):
        for item_id, bucket in state.book.days.get(first + offset, {}).items():
            for order in bucket.orders:
                for counts, key in ((items, item_id), (categories, order.category_id)):
                    per_day = counts.get(key)
                    if per_day is None:
                        per_day = counts[key] = [[0, 0] for _ in range(horizon)]
                    per_day[offset][0] += 1
                    per_day[offset][1] += order.quality
    return items, categories


DayCounts = dict[str, list[list[int]]]


def merge_leaving(per_shard: list[DayCounts]) -> DayCounts:
    """The categories' leaving counts summed over partitions (one: its own)."""
    if len(per_shard) == 1:
        return per_shard[0]
    merged: DayCounts = {}
    for counts in per_shard:
        for key, days in counts.items():
            mine = merged.get(key)
            if mine is None:
                merged[key] = [list(pair) for pair in days]
            else:
                for pair, other in zip(mine, days, strict=True):
                    pair[0] += other[0]
                    pair[1] += other[1]
    return merged


def warn(
    state: State,
    quality: QualityState,
    day: int,
    decided_at: int,
    categories: Mapping[str, QualityCount],
    leaving: tuple[DayCounts, DayCounts],
) -> None:
    """Early warnings at ``E_day``: every item that, if nothing else arrived, would be fined
    within :func:`lookahead_days` — its state machine (:func:`step`) run forward over the
    window as it slides (old paid days leave, no new order or refund comes), at the first
    fine, with that day's figures.

    ``categories`` are the window totals (:func:`sum_categories`), ``leaving`` this state's
    item counts and every partition's category counts (:func:`leaving_counts`,
    :func:`merge_leaving`) of the days that leave.
    """
    settings = state.policy.quality_refund
    book, subsidies = state.book, state.subsidies
    item_q = quality.window.items
    leaving_items, leaving_categories = leaving
    candidates = {
        item_id
        for item_id, count in item_q.items()
        if item_id in subsidies.items and count.n >= settings.min_quality_refunds
    }
    candidates.update(quality.observing)
    no_days: list[list[int]] = []
    for item_id in sorted(candidates):
        item = book.items[item_id]
        count = item_q.get(item_id)
        d_i, n_i = (count.d, count.n) if count is not None else (0, 0)
        category = categories.get(item.category_id)
        d_c, n_c = (category.d, category.n) if category is not None else (0, 0)
        item_days = leaving_items.get(item_id, no_days)
        category_days = leaving_categories.get(item.category_id, no_days)
        observation = quality.observing.get(item_id)
        for offset in range(lookahead_days(state)):
            later = day + 1 + offset
            if offset < len(item_days):
                d_i -= item_days[offset][0]
                n_i -= item_days[offset][1]
            if offset < len(category_days):
                d_c -= category_days[offset][0]
                n_c -= category_days[offset][1]
            at = state.calendar.start_of(later)
            in_scope = subsidies.in_scope(item_id, at, settings.scope_after_exit_ms)
            exceed = in_scope and exceeds(settings, d_i, n_i, d_c, n_c)
            observation, about, kind = step(settings, observation, exceed, later)
            if kind != "fine":
                continue
            assert about is not None  # noqa: S101 - a fine is about an observation
            state.warned(
                rule=RULE,
                kind="fine",
                shop_id=item.shop_id,
                item_id=item_id,
                warned_at=decided_at,
                day=later,
                window=window(state, later),
                n=n_i,
                d=d_i,
                threshold=float(settings.ratio),
                details={
                    "category_id": item.category_id,
                    "category_numerator": n_c,
                    "category_denominator": d_c,
                    "strikes": about.strikes,
                    "observation_start": state.calendar.iso(about.start_day),
                },
            )
            break


def _partial(partition: Partition, day: int, decided_at: int) -> dict[str, QualityCount]:
    return partition.quality.window.categories


def _decide(
    partition: Partition, day: int, decided_at: int, totals: Mapping[str, QualityCount]
) -> list[Verdict]:
    return evaluate(partition.state, partition.quality, day, decided_at, totals)


#: Per item against its category: each partition's window counts per category are summed,
#: and every partition decides its items against the sums.
STEPS = Steps(RULE, partial=_partial, combine=sum_categories, decide=_decide)

"""A slow, literal reference implementation of SPEC.md (§1.1, §2.1, §3, §4, §5, §7).

Written from the SPEC text alone, without reading ``streams/`` (the engine under test). It is
deliberately naive: events are first classified in arrival order (§7 "Checks run in this
order"), then every evaluation instant ``E`` is visited in increasing order and *every* order
fact needed at ``E`` is recomputed from scratch from the applied events with ``ts < E``. The
only state carried from one instant to the next is what the SPEC itself defines as state
carried by verdicts: the engine's own delist verdicts (subsidy exits, §3), the pickup48 tag of
each item (§4.3) and the quality_refund observation of each item (§4.4).

Defaults of SPEC §6: time zone Asia/Shanghai, allowed lateness 5 min, orphan retention 7 days,
policy name ``default``, no excluded categories.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sellerwatch.schemas.events import (
    Enrollment,
    Exemption,
    Payment,
    PickupScan,
    Refund,
    Shipment,
    Subsidy,
)
from sellerwatch.schemas.validation import Rejected
from sellerwatch.schemas.verdict import Verdict, verdict_id

HOUR = 3_600_000
DAY = 86_400_000
UTC_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

RULE_ORDER = {
    "same_day_ship": 0,
    "ship48_pickup24": 1,
    "pickup48": 2,
    "quality_refund": 3,
    "campaign_fulfilment": 4,
}


@dataclass(frozen=True)
class RefCampaign:
    """One §4.6 campaign; the paid bounds are local wall-clock strings 'YYYY-MM-DD HH:MM:SS'."""

    name: str
    channel: str
    paid_from: str  # inclusive
    paid_before: str  # exclusive
    ship_within_ms: int = 48 * HOUR
    pickup_within_ms: int = 48 * HOUR  # from payment
    update_within_ms: int = 24 * HOUR  # from pickup
    fine_cents: int = 0


@dataclass(frozen=True)
class RefPolicy:
    """The SPEC §6 defaults the reference needs."""

    name: str = "default"
    tz: str = "Asia/Shanghai"
    lateness_ms: int = 5 * 60_000
    orphan_retention_ms: int = 7 * DAY
    # id memory (§7, ruling of 2026-11-27)
    dedupe_horizon_ms: int = DAY
    order_horizon_ms: int = 35 * DAY
    # same_day_ship
    cutoff_hour: int = 17
    ship_by_hour: int = 20
    sds_min_rate_pct: int = 85  # n/d >= 0.85
    sds_tiers: tuple[tuple[int, int], ...] = ((1000, 30), (300, 20))  # (daily avg >= x, cents)
    # ship48_pickup24
    s48_ship_within_ms: int = 48 * HOUR
    s48_pickup_within_ms: int = 24 * HOUR
    s48_window_days: int = 7
    s48_lag_days: int = 4
    s48_max_rate_pct: int = 90  # delist when n/d < 0.90
    s48_min_orders: int = 1
    s48_excluded: frozenset[str] = frozenset()
    # pickup48
    p48_pickup_within_ms: int = 48 * HOUR
    p48_lag_days: int = 3
    p48_tag_above_pct: int = 98  # tagged when n/d > 0.98
    p48_excluded: frozenset[str] = frozenset()
    # quality_refund
    qr_refund_within_ms: int = 30 * DAY
    qr_window_days: int = 30
    qr_ratio_num: int = 3  # 1.5 = 3/2
    qr_ratio_den: int = 2
    qr_min_refunds: int = 6
    qr_observe_days: int = 7
    qr_strikes: int = 3
    qr_fine_cents: int = 20000
    qr_scope_after_exit_ms: int = 30 * DAY
    # exemption
    exemption_report_within_ms: int = 48 * HOUR
    # campaigns (§4.6): none by default
    campaigns: tuple[RefCampaign, ...] = ()


@dataclass
class RefResult:
    """Verdicts in output order, plus the §5 accounting buckets."""

    verdicts: list[Verdict]
    applied: int = 0
    duplicate: int = 0
    late: int = 0
    rejected: int = 0
    outcomes: list[str] = field(default_factory=list)
    #: (rule, subject, period) -> (n, d) of each evaluation the reference computed
    figures: dict[tuple[str, str, str], tuple[int, int]] = field(default_factory=dict)
    #: (rule, subject, period) -> (denominator order ids, numerator order ids), sorted
    orders: dict[tuple[str, str, str], tuple[list[str], list[str]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Facts:
    """Order facts of SPEC §2.1 as of one evaluation instant."""

    order_id: str
    paid_ts: int
    shop_id: str
    item_id: str
    category_id: str
    channel: str
    region: str | None
    ship_ts: int | None
    tracking_no: str | None
    official_logistics: bool
    needs_logistics: bool
    pickup_ts: int | None
    refunded_before_shipment: bool
    quality_refunded: bool
    exempt: bool
    update_ts: int | None = None

    def eligible(self, excluded: frozenset[str]) -> bool:
        """Timeliness-eligible (§2.1, §7)."""
        if self.refunded_before_shipment or self.exempt:
            return False
        if self.ship_ts is not None and not self.needs_logistics:
            return False
        return self.category_id not in excluded


class Reference:
    """Brute-force evaluation of the SPEC over one finite input given in arrival order."""

    def __init__(self, policy: RefPolicy | None = None) -> None:
        self.p = policy or RefPolicy()
        self.tz = ZoneInfo(self.p.tz)

    # ------------------------------------------------------------------ time helpers
    def local(self, ts: int) -> dt.datetime:
        return (UTC_EPOCH + dt.timedelta(milliseconds=ts)).astimezone(self.tz)

    def local_date(self, ts: int) -> dt.date:
        return self.local(ts).date()

    def at_local(self, day: dt.date, hour: int = 0) -> int:
        """Epoch ms of local wall clock ``day hour:00:00.000``."""
        wall = dt.datetime(day.year, day.month, day.day, hour, tzinfo=self.tz)
        return (wall - UTC_EPOCH) // dt.timedelta(milliseconds=1)

    def midnight(self, day: dt.date) -> int:
        """``E_T``: the instant of local midnight starting ``day``."""
        return self.at_local(day, 0)

    # ------------------------------------------------------------------ classification
    def classify(self, records: list[Any]) -> RefResult:
        """§7: validation → duplicate event_id → late → second payment → applied."""
        res = RefResult(verdicts=[])
        seen_ids: dict[str, int] = {}  # event_id -> ts of the record that put it in memory
        paid: dict[str, int] = {}  # order_id -> ts of its latest applied payment
        max_ts: int | None = None
        applied: list[Any] = []
        for rec in records:
            if isinstance(rec, Rejected):
                res.rejected += 1
                res.outcomes.append("rejected")
                continue
            # W just before this record; while undefined nothing is forgotten, nothing late.
            watermark = None if max_ts is None else max_ts - self.p.lateness_ms
            remembered = seen_ids.get(rec.event_id)
            if remembered is not None and (
                watermark is None or remembered >= watermark - self.p.dedupe_horizon_ms
            ):
                res.duplicate += 1
                res.outcomes.append("duplicate")
                continue
            seen_ids[rec.event_id] = rec.ts
            if watermark is not None and rec.ts < watermark:
                res.late += 1
                res.outcomes.append("late")
                continue
            if isinstance(rec, Payment) and rec.order_id in paid:
                if watermark is None or paid[rec.order_id] >= watermark - self.p.order_horizon_ms:
                    res.rejected += 1
                    res.outcomes.append("rejected")
                    continue
            if isinstance(rec, Payment):
                paid[rec.order_id] = rec.ts
            applied.append(rec)
            max_ts = rec.ts if max_ts is None else max(max_ts, rec.ts)
            res.applied += 1
            res.outcomes.append("applied")
        self.applied = applied
        return res

    # ------------------------------------------------------------------ run
    def run(self, records: list[Any]) -> RefResult:
        res = self.classify(records)
        self._index()
        res.verdicts = self._evaluate_all()
        res.figures = self.figures
        res.orders = self.orders
        return res

    def _index(self) -> None:
        """Group applied events by key, keeping arrival order (index ``seq``)."""
        self.seq: dict[int, int] = {}
        self.payments: dict[str, list[Payment]] = defaultdict(list)
        self.payments_by_item: dict[str, list[Payment]] = defaultdict(list)
        self.payments_by_date: dict[dt.date, list[Payment]] = defaultdict(list)
        self.shipments: dict[str, list[Shipment]] = defaultdict(list)
        self.refunds: dict[str, list[Refund]] = defaultdict(list)
        self.scans: dict[str, list[PickupScan]] = defaultdict(list)
        self.exemptions: dict[str, list[Exemption]] = defaultdict(list)
        self.enrollments: dict[str, list[Enrollment]] = defaultdict(list)
        self.subsidies: dict[str, list[Subsidy]] = defaultdict(list)
        for i, ev in enumerate(self.applied):
            self.seq[id(ev)] = i
            if isinstance(ev, Payment):
                self.payments[ev.order_id].append(ev)
                self.payments_by_item[ev.item_id].append(ev)
                self.payments_by_date[self.local_date(ev.ts)].append(ev)
            elif isinstance(ev, Shipment):
                self.shipments[ev.order_id].append(ev)
            elif isinstance(ev, Refund):
                self.refunds[ev.order_id].append(ev)
            elif isinstance(ev, PickupScan):
                self.scans[ev.tracking_no].append(ev)
            elif isinstance(ev, Exemption):
                self.exemptions[ev.shop_id].append(ev)
            elif isinstance(ev, Enrollment):
                self.enrollments[ev.shop_id].append(ev)
            elif isinstance(ev, Subsidy):
                self.subsidies[ev.item_id].append(ev)
        self.delists: dict[str, list[int]] = defaultdict(list)
        #: (rule, subject, period) -> (numerator, denominator) of every evaluation computed
        self.figures: dict[tuple[str, str, str], tuple[int, int]] = {}
        self.orders: dict[tuple[str, str, str], tuple[list[str], list[str]]] = {}
        self.tagged: set[str] = set()
        self.observing: dict[str, tuple[dt.date, int]] = {}

    def _order_key(self, ev: Any) -> tuple[int, int]:
        """Time order; equal ts in arrival order (§7)."""
        return (ev.ts, self.seq[id(ev)])

    def owner(self, ev: Shipment | Refund) -> Payment | None:
        """The payment a shipment or refund joins (§7): of its order_id's payments, the latest
        one before it in (ts, arrival) order; when there is none, the first later one if it is
        within the orphan retention; else none (an orphan)."""
        key = self._order_key(ev)
        pays = self.payments.get(ev.order_id, [])
        earlier = [p for p in pays if self._order_key(p) < key]
        if earlier:
            return max(earlier, key=self._order_key)
        later = [p for p in pays if self._order_key(p) > key]
        if not later:
            return None
        first = min(later, key=self._order_key)
        return first if first.ts - ev.ts <= self.p.orphan_retention_ms else None

    # ------------------------------------------------------------------ order facts (§2.1)
    def facts(self, pay: Payment, E: int) -> Facts:
        """Every §2.1 fact of the order paid by ``pay``, from applied events with ts < E."""
        assert pay.ts < E
        ret = self.p.orphan_retention_ms
        ships = [
            s for s in self.shipments.get(pay.order_id, []) if s.ts < E and self.owner(s) is pay
        ]
        first_ship = min(ships, key=self._order_key) if ships else None
        pickup_ts: int | None = None
        if first_ship is not None:
            pickups = [
                sc.ts
                for sc in self.scans.get(first_ship.tracking_no, [])
                if sc.ts < E and sc.scan == "pickup" and first_ship.ts - sc.ts <= ret
            ]
            pickup_ts = min(pickups) if pickups else None
        update_ts: int | None = None
        if first_ship is not None and pickup_ts is not None:
            updates = [
                sc.ts
                for sc in self.scans.get(first_ship.tracking_no, [])
                if sc.ts < E
                and sc.scan in ("transit", "delivered")
                and sc.ts >= pickup_ts
                and first_ship.ts - sc.ts <= ret
            ]
            update_ts = min(updates) if updates else None
        refunds = [
            r for r in self.refunds.get(pay.order_id, []) if r.ts < E and self.owner(r) is pay
        ]
        if first_ship is None:
            before_ship = len(refunds) > 0
        else:
            before_ship = any(r.ts < first_ship.ts for r in refunds)
        quality = any(
            r.reason == "quality" and r.ts - pay.ts <= self.p.qr_refund_within_ms for r in refunds
        )
        exempt = False
        within = self.p.exemption_report_within_ms
        for ex in self.exemptions.get(pay.shop_id, []):
            if ex.ts >= E:
                continue
            if ex.scope == "shop":
                matches = True
            elif ex.scope == "item":
                matches = ex.item_id == pay.item_id
            else:
                matches = pay.region is not None and ex.region == pay.region
            if (
                matches
                and ex.ts <= pay.ts + within
                and ex.start_ts <= pay.ts + within
                and ex.end_ts > pay.ts
            ):
                exempt = True
        return Facts(
            order_id=pay.order_id,
            paid_ts=pay.ts,
            shop_id=pay.shop_id,
            item_id=pay.item_id,
            category_id=pay.category_id,
            channel=pay.channel,
            region=pay.region,
            ship_ts=first_ship.ts if first_ship else None,
            tracking_no=first_ship.tracking_no if first_ship else None,
            official_logistics=bool(first_ship and first_ship.official_logistics is True),
            needs_logistics=not (first_ship is not None and first_ship.needs_logistics is False),
            pickup_ts=pickup_ts,
            refunded_before_shipment=before_ship,
            quality_refunded=quality,
            exempt=exempt,
            update_ts=update_ts,
        )

    def paid_on(self, days: list[dt.date], E: int) -> list[Payment]:
        out: list[Payment] = []
        for day in days:
            out.extend(p for p in self.payments_by_date.get(day, []) if p.ts < E)
        return out

    def latest_payment(self, item: str, E: int) -> Payment | None:
        """The item's latest payment with ts < E (equal ts: the later arrival)."""
        pays = [p for p in self.payments_by_item.get(item, []) if p.ts < E]
        return max(pays, key=self._order_key) if pays else None

    # ------------------------------------------------------------------ memberships (§3)
    def counting_intervals(self, shop: str, E: int) -> list[tuple[int, float]]:
        """Same-day-ship plan counting intervals [open, close) from enrollments with ts < E."""
        evs = sorted((e for e in self.enrollments.get(shop, []) if e.ts < E), key=self._order_key)
        state = "none"
        cur_open = 0
        intervals: list[tuple[int, float]] = []
        for en in evs:
            if en.action == "join" and state == "none":
                state = "active"
                cur_open = self.midnight(self.local_date(en.ts) + dt.timedelta(days=2))
            elif en.action == "cancel" and state == "active":
                intervals.append((cur_open, en.ts))
                state = "none"
            elif en.action == "cancel" and state == "suspended":
                state = "none"
            elif en.action == "suspend" and state == "active":
                intervals.append((cur_open, en.ts))
                state = "suspended"
            elif en.action == "resume" and state == "suspended":
                state = "active"
                # never before the suspended interval's own opening (cur_open still holds it)
                cur_open = max(self.midnight(self.local_date(en.ts)), cur_open)
            # anything else makes no sense in the current state: ignored
        if state == "active":
            intervals.append((cur_open, float("inf")))
        return intervals

    def subsidy_state(self, item: str, E: int) -> tuple[bool, int | None, bool]:
        """(in the activity at E, ts of the last leave, has any subsidy history before E)."""
        evs: list[tuple[int, int, int, str]] = []
        for s in self.subsidies.get(item, []):
            if s.ts < E:
                evs.append((s.ts, 1, self.seq[id(s)], s.action))
        for D in self.delists.get(item, []):
            if D < E:
                evs.append((D, 0, 0, "exit"))  # delist at D: before input events with ts = D
        evs.sort()
        inside = False
        left_at: int | None = None
        for ts, _, _, action in evs:
            if action == "join":
                inside = True
            elif inside:
                inside = False
                left_at = ts
        history = any(s.ts < E for s in self.subsidies.get(item, []))
        return inside, left_at, history

    # ------------------------------------------------------------------ evaluation loop
    def _evaluate_all(self) -> list[Verdict]:
        if not self.applied:
            return []
        first_ts = min(e.ts for e in self.applied)
        max_ts = max(e.ts for e in self.applied)
        day = self.local_date(first_ts) + dt.timedelta(days=1)
        out: list[Verdict] = []
        while self.midnight(day) <= max_ts:
            E = self.midnight(day)
            batch: list[Verdict] = []
            if day.weekday() == 2:  # Wednesday = Monday + 9 days of the previous week
                batch += self.same_day_ship(day - dt.timedelta(days=9), E)
            batch += self.ship48_pickup24(day, E)
            batch += self.pickup48(day, E)
            batch += self.quality_refund(day, E)
            for campaign in self.p.campaigns:
                batch += self.campaign_fulfilment(campaign, E)
            batch.sort(key=lambda v: (RULE_ORDER[v.rule], v.subject, v.kind, v.period))
            out += batch
            day += dt.timedelta(days=1)
        return out

    def _verdict(self, **kw: Any) -> Verdict:
        subject = kw["item_id"] if kw["item_id"] is not None else kw["shop_id"]
        return Verdict(
            verdict_id=verdict_id(kw["rule"], kw["kind"], subject, kw["period"]),
            policy=self.p.name,
            **kw,
        )

    # §4.1 ------------------------------------------------------------------------------
    def same_day_ship(self, monday: dt.date, E: int) -> list[Verdict]:
        week = [monday + dt.timedelta(days=k) for k in range(7)]
        start, end = self.midnight(monday), self.midnight(monday + dt.timedelta(days=7))
        by_shop: dict[str, list[Facts]] = defaultdict(list)
        intervals_cache: dict[str, list[tuple[int, float]]] = {}
        for pay in self.paid_on(week, E):
            assert start <= pay.ts < end
            if pay.channel != "taote":
                continue
            if pay.shop_id not in intervals_cache:
                intervals_cache[pay.shop_id] = self.counting_intervals(pay.shop_id, E)
            if not any(o <= pay.ts < c for o, c in intervals_cache[pay.shop_id]):
                continue
            by_shop[pay.shop_id].append(self.facts(pay, E))
        verdicts = []
        for shop in sorted(by_shop):
            orders = by_shop[shop]
            count = len(orders)
            d = n = 0
            d_ids: list[str] = []
            n_ids: list[str] = []
            for f in orders:
                if not f.eligible(frozenset()):
                    continue
                d += 1
                d_ids.append(f.order_id)
                paid_local = self.local(f.paid_ts)
                ship_day = paid_local.date()
                if paid_local.hour >= self.p.cutoff_hour:
                    ship_day += dt.timedelta(days=1)
                deadline = self.at_local(ship_day, self.p.ship_by_hour)
                if (
                    f.official_logistics
                    and f.ship_ts is not None
                    and f.ship_ts <= deadline
                    and f.pickup_ts is not None
                ):
                    n += 1
                    n_ids.append(f.order_id)
            self.figures["same_day_ship", shop, monday.isoformat()] = (n, d)
            self.orders["same_day_ship", shop, monday.isoformat()] = (sorted(d_ids), sorted(n_ids))
            if d < 1 or 100 * n < self.p.sds_min_rate_pct * d:
                continue
            cents = 0
            for per_day, c in self.p.sds_tiers:  # Y = count / 7 >= per_day  <=>  count >= 7·per_day
                if count >= 7 * per_day:
                    cents = c
                    break
            if cents == 0:
                continue
            packages = len(
                {f.tracking_no for f in orders if f.official_logistics and f.pickup_ts is not None}
            )
            verdicts.append(
                self._verdict(
                    kind="incentive",
                    rule="same_day_ship",
                    shop_id=shop,
                    item_id=None,
                    period=monday.isoformat(),
                    decided_at=E,
                    window_start=monday.isoformat(),
                    window_end=week[-1].isoformat(),
                    numerator=n,
                    denominator=d,
                    rate=n / d,
                    threshold=self.p.sds_min_rate_pct / 100,
                    amount_cents=cents * packages,
                    details={
                        "packages": packages,
                        "daily_avg_orders": count / 7,
                        "cents_per_package": cents,
                    },
                )
            )
        return verdicts

    # §4.2 ------------------------------------------------------------------------------
    def ship48_pickup24(self, T: dt.date, E: int) -> list[Verdict]:
        lag, width = self.p.s48_lag_days, self.p.s48_window_days
        days = [T - dt.timedelta(days=k) for k in range(lag + width - 1, lag - 1, -1)]
        by_item: dict[str, list[Payment]] = defaultdict(list)
        for pay in self.paid_on(days, E):
            by_item[pay.item_id].append(pay)
        verdicts = []
        for item in sorted(by_item):  # items without orders have d = 0: never delisted
            inside, _, _ = self.subsidy_state(item, E)
            if not inside:
                continue
            d = n = 0
            d_ids, n_ids = [], []
            for pay in by_item[item]:
                f = self.facts(pay, E)
                if not f.eligible(self.p.s48_excluded):
                    continue
                d += 1
                d_ids.append(pay.order_id)
                if (
                    f.ship_ts is not None
                    and f.ship_ts - f.paid_ts <= self.p.s48_ship_within_ms
                    and f.pickup_ts is not None
                    and f.pickup_ts - f.ship_ts <= self.p.s48_pickup_within_ms
                ):
                    n += 1
                    n_ids.append(pay.order_id)
            self.figures["ship48_pickup24", item, T.isoformat()] = (n, d)
            self.orders["ship48_pickup24", item, T.isoformat()] = (sorted(d_ids), sorted(n_ids))
            if d >= self.p.s48_min_orders and 100 * n < self.p.s48_max_rate_pct * d:
                latest = self.latest_payment(item, E)
                assert latest is not None
                verdicts.append(
                    self._verdict(
                        kind="delist",
                        rule="ship48_pickup24",
                        shop_id=latest.shop_id,
                        item_id=item,
                        period=T.isoformat(),
                        decided_at=E,
                        window_start=days[0].isoformat(),
                        window_end=days[-1].isoformat(),
                        numerator=n,
                        denominator=d,
                        rate=n / d,
                        threshold=self.p.s48_max_rate_pct / 100,
                        amount_cents=0,
                        details={},
                    )
                )
        # the delist is the item's exit at E (counts only for instants after E, §3 / §7)
        for v in verdicts:
            assert v.item_id is not None
            self.delists[v.item_id].append(E)
        return verdicts

    # §4.3 ------------------------------------------------------------------------------
    def pickup48(self, T: dt.date, E: int) -> list[Verdict]:
        day = T - dt.timedelta(days=self.p.p48_lag_days)
        by_item: dict[str, list[Payment]] = defaultdict(list)
        for pay in self.paid_on([day], E):
            by_item[pay.item_id].append(pay)
        verdicts = []
        for item in sorted(set(by_item) | self.tagged):
            d = n = 0
            d_ids, n_ids = [], []
            for pay in by_item.get(item, []):
                f = self.facts(pay, E)
                if not f.eligible(self.p.p48_excluded):
                    continue
                d += 1
                d_ids.append(pay.order_id)
                if (
                    f.pickup_ts is not None
                    and f.pickup_ts - f.paid_ts <= self.p.p48_pickup_within_ms
                ):
                    n += 1
                    n_ids.append(pay.order_id)
            self.orders["pickup48", item, T.isoformat()] = (sorted(d_ids), sorted(n_ids))
            latest = self.latest_payment(item, E)
            assert latest is not None
            shop = latest.shop_id
            active_exemption = any(
                ex.ts < E
                and ex.start_ts <= E < ex.end_ts
                and (ex.scope == "shop" or (ex.scope == "item" and ex.item_id == item))
                for ex in self.exemptions.get(shop, [])
            )
            self.figures["pickup48", item, T.isoformat()] = (n, d)
            was = item in self.tagged
            if active_exemption:
                want = False
            elif d >= 1:
                want = 100 * n > self.p.p48_tag_above_pct * d
            else:
                want = was
            if want == was:
                continue
            if want:
                self.tagged.add(item)
            else:
                self.tagged.discard(item)
            verdicts.append(
                self._verdict(
                    kind="tag" if want else "untag",
                    rule="pickup48",
                    shop_id=shop,
                    item_id=item,
                    period=T.isoformat(),
                    decided_at=E,
                    window_start=day.isoformat(),
                    window_end=day.isoformat(),
                    numerator=n,
                    denominator=d,
                    rate=n / d if d else 0.0,
                    threshold=self.p.p48_tag_above_pct / 100,
                    amount_cents=0,
                    details={},
                )
            )
        return verdicts

    # §4.4 ------------------------------------------------------------------------------
    def quality_refund(self, T: dt.date, E: int) -> list[Verdict]:
        days = [T - dt.timedelta(days=k) for k in range(self.p.qr_window_days, 0, -1)]
        window = self.paid_on(days, E)
        by_item: dict[str, list[Payment]] = defaultdict(list)
        by_cat: dict[str, list[Payment]] = defaultdict(list)
        for pay in window:
            by_item[pay.item_id].append(pay)
            by_cat[pay.category_id].append(pay)
        quality: dict[int, bool] = {}

        def is_quality(pay: Payment) -> bool:
            if id(pay) not in quality:
                quality[id(pay)] = self.facts(pay, E).quality_refunded
            return quality[id(pay)]

        candidates = {i for i, evs in self.subsidies.items() if any(s.ts < E for s in evs)}
        candidates |= set(self.observing)
        verdicts = []
        for item in sorted(candidates):
            exceed = False
            d_i = n_i = d_c = n_c = 0
            category = None
            if by_item.get(item) or item in self.observing:
                inside, left_at, _ = self.subsidy_state(item, E)
                in_scope = inside or (
                    left_at is not None and E - left_at <= self.p.qr_scope_after_exit_ms
                )
                latest = self.latest_payment(item, E)
                category = latest.category_id if latest is not None else None
                d_i = len(by_item.get(item, []))
                n_i = sum(1 for p in by_item.get(item, []) if is_quality(p))
                if category is not None:
                    d_c = len(by_cat.get(category, []))
                    n_c = sum(1 for p in by_cat.get(category, []) if is_quality(p))
                self.figures["quality_refund", item, T.isoformat()] = (n_i, d_i)
                self.orders["quality_refund", item, T.isoformat()] = (
                    sorted(p.order_id for p in by_item.get(item, [])),
                    sorted(p.order_id for p in by_item.get(item, []) if is_quality(p)),
                )
                exceed = (
                    in_scope
                    and d_i >= 1
                    and n_i >= self.p.qr_min_refunds
                    and self.p.qr_ratio_den * n_i * d_c > self.p.qr_ratio_num * n_c * d_i
                )
            kind = None
            if item not in self.observing:
                if exceed:
                    self.observing[item] = (T, 1)
                    kind, start, strikes = "watch", T, 1
            else:
                start, strikes = self.observing[item]
                if exceed:
                    strikes += 1
                if strikes >= self.p.qr_strikes:
                    kind = "fine"
                    del self.observing[item]
                elif T == start + dt.timedelta(days=self.p.qr_observe_days - 1):
                    del self.observing[item]
                else:
                    self.observing[item] = (start, strikes)
            if kind is None:
                continue
            latest = self.latest_payment(item, E)
            assert latest is not None and category is not None
            verdicts.append(
                self._verdict(
                    kind=kind,
                    rule="quality_refund",
                    shop_id=latest.shop_id,
                    item_id=item,
                    period=T.isoformat(),
                    decided_at=E,
                    window_start=days[0].isoformat(),
                    window_end=days[-1].isoformat(),
                    numerator=n_i,
                    denominator=d_i,
                    rate=n_i / d_i if d_i else 0.0,
                    threshold=self.p.qr_ratio_num / self.p.qr_ratio_den,
                    amount_cents=self.p.qr_fine_cents if kind == "fine" else 0,
                    details={
                        "category_id": category,
                        "category_numerator": n_c,
                        "category_denominator": d_c,
                        "strikes": strikes,
                        "observation_start": start.isoformat(),
                    },
                )
            )
        return verdicts

    # §4.6 ------------------------------------------------------------------------------
    def first_midnight_after(self, ts: int) -> int:
        """The first evaluation instant ``E_T > ts``."""
        day = self.local_date(ts)
        while self.midnight(day) <= ts:
            day += dt.timedelta(days=1)
        return self.midnight(day)

    def local_string_ms(self, text: str) -> int:
        """Epoch ms of a local 'YYYY-MM-DD HH:MM:SS' in the policy's zone."""
        wall = dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=self.tz)
        return (wall - UTC_EPOCH) // dt.timedelta(milliseconds=1)

    def campaign_fulfilment(self, c: RefCampaign, E: int) -> list[Verdict]:
        """Every campaign order whose step 1 or step 2 instant is ``E``, judged from scratch."""
        start, end = self.local_string_ms(c.paid_from), self.local_string_ms(c.paid_before)
        step1_within = max(c.ship_within_ms, c.pickup_within_ms)
        verdicts = []
        judged: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # shop -> [kept, judged]
        for pays in self.payments.values():
            for pay in pays:
                if pay.ts >= E or pay.channel != c.channel or not start <= pay.ts < end:
                    continue
                e1 = self.first_midnight_after(pay.ts + step1_within)
                if e1 > E:
                    continue
                f1 = self.facts(pay, e1)
                reason: str | None = None
                deadline = pay.ts + step1_within
                if not f1.eligible(frozenset()):
                    continue  # not judged at step 1 (so never)
                ship_ok = f1.ship_ts is not None and f1.ship_ts - f1.paid_ts <= c.ship_within_ms
                pick_ok = (
                    f1.pickup_ts is not None and f1.pickup_ts - f1.paid_ts <= c.pickup_within_ms
                )
                if not ship_ok:
                    reason = "not_shipped_in_time"
                elif not pick_ok:
                    reason = "no_pickup_in_time"
                if reason is not None:
                    if e1 != E:
                        continue
                else:
                    assert f1.pickup_ts is not None
                    deadline = f1.pickup_ts + c.update_within_ms
                    e2 = max(e1, self.first_midnight_after(deadline))
                    if e2 != E:
                        continue
                    f2 = self.facts(pay, e2)
                    if not f2.eligible(frozenset()):
                        continue  # not judged at step 2
                    assert f2.pickup_ts == f1.pickup_ts
                    if f2.update_ts is None or f2.update_ts - f2.pickup_ts > c.update_within_ms:
                        reason = "no_update_in_time"
                counts = judged[pay.shop_id]
                counts[1] += 1
                if reason is None:
                    counts[0] += 1
                    continue
                verdicts.append(
                    Verdict(
                        verdict_id=verdict_id(
                            "campaign_fulfilment", "breach", pay.order_id, c.name
                        ),
                        kind="breach",
                        rule="campaign_fulfilment",
                        shop_id=pay.shop_id,
                        item_id=pay.item_id,
                        period=c.name,
                        decided_at=E,
                        window_start=self.local_date(start).isoformat(),
                        window_end=self.local_date(end - 1).isoformat(),
                        numerator=0,
                        denominator=1,
                        rate=0.0,
                        threshold=1.0,
                        amount_cents=c.fine_cents,
                        policy=self.p.name,
                        details={
                            "order_id": pay.order_id,
                            "paid_ts": pay.ts,
                            "deadline": deadline,
                            "reason": reason,
                        },
                    )
                )
        for shop, (kept, count) in judged.items():
            self.figures["campaign_fulfilment", shop, f"{c.name}@{E}"] = (kept, count)
        return verdicts


def run_reference(records: list[Any], policy: RefPolicy | None = None) -> RefResult:
    """Classify ``records`` (decoded events or ``Rejected``, in arrival order) and evaluate."""
    return Reference(policy).run(records)

"""The order lifecycle: checkouts, payments, parcels, shipments, carrier scans and refunds.

:meth:`OrderFactory.day` generates every checkout paid on one local day and files all of their
events (up to :data:`FOLLOW_UP_DAYS` later) into the day buffer:

- a checkout of one shop holds 1–4 sub-orders (orders) paid at the same instant, on one channel,
  to one buyer region (or none); its ordinary items travel in one parcel under one waybill,
  while slow-shipping, late-pickup and virtual items travel on their own;
- a few orders are refunded before shipment (and never shipped);
- shipping time follows the shop's habit: plan shops with same-day discipline ship orders paid
  before 17:00 by 20:00 that day, others after some hours, within working hours; slow items
  often take more than 48 h until they get better;
- the courier scans ``pickup`` (sometimes before the seller marks the parcel shipped, sometimes
  never), then ``transit`` and ``delivered``; bulky categories have slow, scheduled pickups and
  late-pickup items are often collected more than 24 h after shipment;
- quality refunds at the category's base rate times the item's factor (refund-spike items:
  40 % over their spike days), mostly 3–12 days after payment, a few past 30 days; other refunds.

Time of day is local: ``ts - starts[day]``.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections import Counter
from itertools import accumulate

from sellerwatch.generator.buffer import DayBuffer
from sellerwatch.generator.campaign import KEEP, NO_UPDATE, CampaignPlan
from sellerwatch.generator.model import (
    CHANNELS,
    FAST,
    FREIGHT_CARRIERS,
    LATE_PICKUP,
    NO_REGION,
    NORMAL,
    REFUND_SPIKE,
    SLOW_SHIP,
    SOLO,
    Item,
    Marketplace,
    Shop,
)
from sellerwatch.generator.programs import PICKUP, SHIP, Disruption
from sellerwatch.generator.timebase import (
    MINUTE_CUM,
    MINUTES,
    MS_DAY,
    MS_HOUR,
    MS_MINUTE,
    WEEKDAY_FACTOR,
    Timeline,
)

H = MS_HOUR
#: Probability that an order is refunded (cancelled) before it is shipped.
P_CANCEL = 0.015
#: Quality-refund rate of a refund-spike item during its spike days.
SPIKE_RATE = 0.4
#: Probability of a refund for another reason after shipment.
P_OTHER_REFUND = 0.02
#: Probability that the courier scans the pickup before the seller marks the parcel shipped.
P_EARLY_SCAN = 0.03


class OrderFactory:
    """Generates the orders of one day at a time into a :class:`DayBuffer`."""

    def __init__(
        self,
        market: Marketplace,
        timeline: Timeline,
        rng: random.Random,
        buffer: DayBuffer,
        disruptions: list[Disruption],
    ) -> None:
        """Orders of ``market`` over ``timeline``, drawn from ``rng``."""
        self.market, self.timeline, self.rng, self.buffer = market, timeline, rng, buffer
        self.starts = timeline.starts
        self.ship_disruptions = [d for d in disruptions if d.stage == SHIP]
        self.pickup_disruptions = [d for d in disruptions if d.stage == PICKUP]
        self.region_total = market.region_cum[-1]
        self.orders = 0
        self.checkouts = 0
        self.shops_seen: set[str] = set()
        self.items_seen: set[str] = set()
        self.counts: Counter[str] = Counter()
        self._order_no = 0
        self._waybill_no = 0
        self._refund_no = 0
        #: A campaign laid over the calendar (``--campaign``); ``None`` leaves every order as is.
        self.campaign: CampaignPlan | None = None

    # -- a day of checkouts ----------------------------------------------------------------
    def day(self, day: int) -> None:
        """Generate every checkout paid on day ``day``."""
        rng, timeline = self.rng, self.timeline
        week = timeline.week_of(day)
        factor = WEEKDAY_FACTOR[timeline.weekday(day)] * rng.uniform(0.94, 1.06)
        shops = self.market.shops
        weights = []
        for shop in shops:
            rate = shop.rate
            if shop.anchor_rate and (shop.promo_weeks is None or week in shop.promo_weeks):
                rate = max(rate, shop.anchor_rate)
            weights.append(rate * factor / _mean_basket(shop.basket_cum))
        expected = sum(weights)
        checkouts = max(0, round(rng.gauss(expected, expected**0.5)))
        if checkouts == 0:
            return
        chosen = rng.choices(shops, cum_weights=list(accumulate(weights)), k=checkouts)
        minutes = rng.choices(MINUTES, cum_weights=MINUTE_CUM, k=checkouts)
        start = self.starts[day]
        randrange = rng.randrange
        for shop, minute in zip(chosen, minutes, strict=True):
            self._checkout(shop, start + minute * MS_MINUTE + randrange(MS_MINUTE), day)
        self.checkouts += checkouts

    def _checkout(self, shop: Shop, paid_ts: int, day: int) -> None:
        rng, buffer = self.rng, self.buffer
        random_ = rng.random
        size = bisect_right(shop.basket_cum, random_()) + 1
        items = rng.choices(shop.items, cum_weights=shop.item_cum, k=size)
        channel = CHANNELS[bisect_right(shop.channel_cum, random_())]
        region = None
        if random_() >= NO_REGION:
            region = self.market.regions[
                bisect_right(self.market.region_cum, random_() * self.region_total)
            ]
        shop_id = shop.shop_id
        together: list[tuple[str, Item]] = []
        alone: list[list[tuple[str, Item]]] = []
        for item in items:
            self._order_no += 1
            order_id = f"O{self._order_no:09d}"
            amount = item.price_cents * (1 if random_() < 0.85 else 2)
            event = {
                "type": "payment",
                "event_id": buffer.event_id("pay"),
                "ts": paid_ts,
                "order_id": order_id,
                "shop_id": shop_id,
                "item_id": item.item_id,
                "category_id": item.category.category_id,
                "channel": channel,
                "amount_cents": amount,
            }
            if region is not None:
                event["region"] = region
            buffer.add(paid_ts, "payment", order_id, event)
            self.items_seen.add(item.item_id)
            if item.category.virtual:
                self._virtual(order_id, paid_ts)
            elif item.behaviour in SOLO and day < item.fixed_from_day:
                alone.append([(order_id, item)])
            else:
                together.append((order_id, item))
        self.orders += size
        self.shops_seen.add(shop_id)
        if together:
            alone.append(together)
        role = None if self.campaign is None else self.campaign.role(shop_id, channel, paid_ts)
        for parcel in alone:
            self._parcel(shop, parcel, paid_ts, day, region, role)

    # -- one parcel --------------------------------------------------------------------------
    def _parcel(
        self,
        shop: Shop,
        orders: list[tuple[str, Item]],
        paid_ts: int,
        day: int,
        region: str | None,
        role: str | None = None,
    ) -> None:
        rng, buffer = self.rng, self.buffer
        random_, uniform = rng.random, rng.uniform
        lead = orders[0][1]
        behaviour = (
            lead.behaviour if day < lead.fixed_from_day else FAST if shop.same_day else NORMAL
        )
        bulky = any(item.category.bulky for _, item in orders)
        ship_ts = self._ship_ts(shop, behaviour, paid_ts, day)
        for disruption in self.ship_disruptions:
            if disruption.start_ts <= ship_ts < disruption.end_ts and any(
                disruption.matches(shop.shop_id, item.item_id, region) for _, item in orders
            ):
                ship_ts = self._working(disruption.end_ts + int(uniform(1, 10) * H))
        campaign = self.campaign if role is not None else None
        if campaign is not None:
            ship_ts = campaign.ship_ts(role, paid_ts, ship_ts)  # type: ignore[arg-type]
        kept = []
        for order_id, item in orders:
            if random_() < P_CANCEL:
                span = min(ship_ts - paid_ts, 20 * H)
                if self._refund(order_id, paid_ts + int(uniform(0.05, 0.95) * span), "other"):
                    self.counts["refunds_before_shipment"] += 1
            else:
                kept.append((order_id, item))
        if not kept:
            return
        # Counts describe what is written: nothing of a parcel shipped after the end is.
        counts = self.counts if ship_ts < self.timeline.end_ts else Counter()
        counts["parcels"] += 1
        if bulky:
            carrier, prefix = FREIGHT_CARRIERS[random_() < 0.5]
        else:
            carrier, prefix = (
                shop.carriers[0] if len(shop.carriers) == 1 else shop.carriers[random_() < 0.3]
            )
        self._waybill_no += 1
        tracking = f"{prefix}{self._waybill_no:013d}"
        official = random_() < shop.official_rate
        ts = ship_ts
        for order_id, _ in kept:
            event = {
                "type": "shipment",
                "event_id": buffer.event_id("shp"),
                "ts": ts,
                "order_id": order_id,
                "carrier": carrier,
                "tracking_no": tracking,
                "official_logistics": official,
            }
            buffer.add(ts, "shipment", order_id, event)
            ts += rng.randrange(200, 4_000)
        if random_() < 0.003:  # the seller re-issues the waybill; scans of it are ignored
            self._reissue(kept[0][0], carrier, prefix, ts + int(uniform(0.5, 6) * H))
        # The courier: pickup (maybe before "shipped", maybe never), transit, delivered.
        miss = 0.02 if behaviour == LATE_PICKUP else 0.01 if bulky else 0.003
        last = ship_ts
        if random_() >= miss or role in (KEEP, NO_UPDATE):
            if random_() < P_EARLY_SCAN:
                pickup_ts = max(paid_ts + MS_MINUTE, ship_ts - int(uniform(0.1, 3) * H))
                counts["pickups_before_shipment"] += 1
            else:
                pickup_ts = self._pickup_ts(shop, behaviour, bulky, ship_ts)
                for disruption in self.pickup_disruptions:
                    if disruption.start_ts <= pickup_ts < disruption.end_ts and disruption.matches(
                        shop.shop_id, lead.item_id, region
                    ):
                        pickup_ts = self._courier(disruption.end_ts + int(uniform(2, 12) * H))
            if campaign is not None:
                pickup_ts = campaign.pickup_ts(role, paid_ts, pickup_ts)  # type: ignore[arg-type]
            if self._scan(pickup_ts, tracking, carrier, "pickup"):
                self.counts["parcels_picked_up"] += 1
            last = max(pickup_ts, ship_ts)
        elif random_() < 0.4:
            last = -1  # never scanned at all
            counts["parcels_never_scanned"] += 1
        else:
            counts["parcels_without_pickup_scan"] += 1
        delivered_ts = last + int(uniform(1, 4) * MS_DAY)
        if last >= 0:
            transit_ts = last + int(uniform(3, 16) * H)
            if campaign is not None and role in (KEEP, NO_UPDATE):
                transit_ts = campaign.transit_ts(role, pickup_ts, transit_ts)
            self._scan(transit_ts, tracking, carrier, "transit")
            if random_() < 0.35:
                self._scan(transit_ts + int(uniform(8, 30) * H), tracking, carrier, "transit")
            delivered_ts = (
                transit_ts + int(uniform(8, 48) * H) + (int(uniform(1, 4) * MS_DAY) if bulky else 0)
            )
            if random_() < 0.98:
                self._scan(delivered_ts, tracking, carrier, "delivered")
        # Refunds after shipment: quality (lock-order rule counts them for the paid day) or other.
        for order_id, item in kept:
            quality = item.category.quality_rate * item.quality_factor
            spike = (
                item.behaviour == REFUND_SPIKE and item.spike_days[0] <= day < item.spike_days[1]
            )
            if spike:
                quality = SPIKE_RATE
            draw = random_()
            if draw < quality:
                spread = random_()
                if spike:  # a defective batch: complaints come early
                    days_after = uniform(2, 10) if spread < 0.8 else uniform(10, 25)
                elif spread < 0.62:
                    days_after = uniform(3, 12)
                elif spread < 0.88:
                    days_after = uniform(12, 26)
                else:
                    days_after = uniform(26, 44)  # some past the 30 days that count
                refund_ts = max(paid_ts + int(days_after * MS_DAY), ship_ts + MS_DAY)
                if self._refund(order_id, refund_ts, "quality"):
                    self.counts["refunds_quality"] += 1
                    if refund_ts - paid_ts > 30 * MS_DAY:
                        self.counts["quality_refunds_after_30_days"] += 1
            elif draw < quality + P_OTHER_REFUND:
                refund_ts = max(delivered_ts, ship_ts) + int(uniform(0.5, 12) * MS_DAY)
                if self._refund(order_id, refund_ts, "other"):
                    self.counts["refunds_other_after_shipment"] += 1

    # -- timing ----------------------------------------------------------------------------
    def _ship_ts(self, shop: Shop, behaviour: str, paid_ts: int, day: int) -> int:
        """When the seller marks the parcel shipped."""
        uniform, random_ = self.rng.uniform, self.rng.random
        if behaviour == SLOW_SHIP:
            hours = uniform(50, 96) if random_() < 0.5 else uniform(8, 40)
            return self._working(paid_ts + int(hours * H))
        if shop.same_day:
            start = self.starts[day]
            tod = paid_ts - start
            if tod < 17 * H:
                if random_() < 0.965:  # by 20:00 today
                    earliest = max(paid_ts, start + 8 * H + 30 * MS_MINUTE)
                    ship = earliest + int(uniform(10 * MS_MINUTE, 150 * MS_MINUTE))
                    return min(ship, start + 19 * H + 55 * MS_MINUTE)
                return self.starts[day + 1] + int(uniform(9, 19) * H)  # missed: tomorrow
            if tod < 20 * H + 30 * MS_MINUTE and random_() < 0.35:
                return paid_ts + int(uniform(10 * MS_MINUTE, 60 * MS_MINUTE))
            return self.starts[day + 1] + int(uniform(8.5, 16) * H)
        if behaviour == FAST:
            return self._working(paid_ts + int(uniform(0.3, 6) * H))
        spread = random_()
        hours = (
            uniform(1, 12)
            if spread < 0.7
            else uniform(12, 36)
            if spread < 0.99
            else uniform(36, 60)
        )
        return self._working(paid_ts + int(hours * H))

    def _pickup_ts(self, shop: Shop, behaviour: str, bulky: bool, ship_ts: int) -> int:
        """When the courier picks the parcel up (after it was marked shipped)."""
        uniform, random_ = self.rng.uniform, self.rng.random
        if bulky:
            hours = uniform(6, 40)
        elif behaviour == LATE_PICKUP:
            hours = uniform(26, 60) if random_() < 0.4 else uniform(2, 20)
        elif shop.same_day:
            hours = uniform(0.3, 3)
        elif behaviour == FAST:
            hours = uniform(0.5, 5)
        else:
            spread = random_()
            hours = (
                uniform(0.5, 6)
                if spread < 0.85
                else uniform(6, 20)
                if spread < 0.99
                else uniform(20, 40)
            )
        return self._courier(ship_ts + int(hours * H))

    def _working(self, ts: int) -> int:
        """Sellers ship between 08:00 and 22:00 local: night instants move to the morning."""
        day = self.timeline.day_of(ts)
        tod = ts - self.starts[day]
        if tod < 8 * H:
            return self.starts[day] + 8 * H + int(self.rng.uniform(0, 2) * H)
        if tod >= 22 * H:
            return self.starts[day + 1] + 8 * H + int(self.rng.uniform(0, 2) * H)
        return ts

    def _courier(self, ts: int) -> int:
        """Couriers collect between 08:00 and 21:30 local."""
        day = self.timeline.day_of(ts)
        tod = ts - self.starts[day]
        if tod < 8 * H:
            return self.starts[day] + 8 * H + int(self.rng.uniform(0, 1.5) * H)
        if tod >= 21 * H + 30 * MS_MINUTE:
            return self.starts[day + 1] + 8 * H + int(self.rng.uniform(0, 2) * H)
        return ts

    # -- single events -----------------------------------------------------------------------
    def _scan(self, ts: int, tracking: str, carrier: str, scan: str) -> bool:
        buffer = self.buffer
        event = {
            "type": "pickup_scan",
            "event_id": buffer.event_id("scn"),
            "ts": ts,
            "tracking_no": tracking,
            "carrier": carrier,
            "scan": scan,
        }
        return buffer.add(ts, "pickup_scan", tracking, event)

    def _refund(self, order_id: str, ts: int, reason: str) -> bool:
        buffer = self.buffer
        self._refund_no += 1
        event = {
            "type": "refund",
            "event_id": buffer.event_id("ref"),
            "ts": ts,
            "order_id": order_id,
            "refund_id": f"RF{self._refund_no:09d}",
            "reason": reason,
        }
        return buffer.add(ts, "refund", order_id, event)

    def _virtual(self, order_id: str, paid_ts: int) -> None:
        """Virtual goods: delivered electronically, a shipment with no parcel."""
        buffer = self.buffer
        ts = paid_ts + self.rng.randrange(MS_MINUTE, 30 * MS_MINUTE)
        event = {
            "type": "shipment",
            "event_id": buffer.event_id("shp"),
            "ts": ts,
            "order_id": order_id,
            "carrier": "VIRTUAL",
            "tracking_no": f"VT{order_id[1:]}",
            "official_logistics": False,
            "needs_logistics": False,
        }
        if buffer.add(ts, "shipment", order_id, event):
            self.counts["virtual_orders"] += 1

    def _reissue(self, order_id: str, carrier: str, prefix: str, ts: int) -> None:
        buffer = self.buffer
        self._waybill_no += 1
        event = {
            "type": "shipment",
            "event_id": buffer.event_id("shp"),
            "ts": ts,
            "order_id": order_id,
            "carrier": carrier,
            "tracking_no": f"{prefix}{self._waybill_no:013d}",
            "official_logistics": True,
        }
        if buffer.add(ts, "shipment", order_id, event):
            self.counts["waybills_reissued"] += 1


def _mean_basket(cum: tuple[float, ...]) -> float:
    previous, mean = 0.0, 0.0
    for size, value in enumerate(cum, start=1):
        mean += size * (value - previous)
        previous = value
    return mean

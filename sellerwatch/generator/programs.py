"""Programme memberships and force-majeure events (SPEC §3, §2 ``exemption``).

:func:`schedule` files into the day buffer, once, before any order is generated:

- ``enrollment``: plan shops join on the first day (most) or later; one shop cancels and
  rejoins, one suspends (margin balance ran out) and resumes, one suspends and then cancels,
  and one sends a ``resume`` while active (an action that makes no sense; the engine ignores it);
- ``subsidy``: items join the activity on the first day or later, a few exit, and the
  slow-shipping role items rejoin once they ship on time again (after their delist);
- disruptions and their ``exemption`` reports: a typhoon that stops pickups in one region (many
  shops file region-scope reports in time), a warehouse closure of one shop (shop scope, in time),
  a supplier delay of one item (item scope, in time), and a second warehouse closure reported
  days too late (it exempts nothing).

Disruptions are returned so that :mod:`sellerwatch.generator.orders` delays the orders they hit.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sellerwatch.generator.buffer import DayBuffer
from sellerwatch.generator.model import LATE_PICKUP, SLOW_SHIP, Marketplace
from sellerwatch.generator.timebase import MS_DAY, MS_HOUR, MS_MINUTE, Timeline

SHIP = "ship"
PICKUP = "pickup"


@dataclass(frozen=True, slots=True)
class Disruption:
    """Shipments (``SHIP``) or pickups (``PICKUP``) that would fall in ``[start_ts, end_ts)``
    for the matching orders are pushed past ``end_ts``."""

    stage: str
    start_ts: int
    end_ts: int
    shop_id: str | None = None  # None: any shop
    item_id: str | None = None
    region: str | None = None

    def matches(self, shop_id: str, item_id: str, region: str | None) -> bool:
        """Whether an order of ``shop_id``/``item_id`` to ``region`` is hit."""
        return (
            (self.shop_id is None or self.shop_id == shop_id)
            and (self.item_id is None or self.item_id == item_id)
            and (self.region is None or self.region == region)
        )


class _Programs:
    def __init__(
        self, market: Marketplace, timeline: Timeline, rng: random.Random, buffer: DayBuffer
    ) -> None:
        self.market, self.timeline, self.rng, self.buffer = market, timeline, rng, buffer
        self.days = timeline.days
        self.reports = 0

    def at(self, day: int, lo_h: float, hi_h: float) -> int:
        """A random instant of day ``day`` between local hours ``lo_h`` and ``hi_h``."""
        return self.timeline.starts[day] + int(self.rng.uniform(lo_h, hi_h) * MS_HOUR)

    def enrollment(self, ts: int, shop_id: str, action: str) -> None:
        event = {
            "type": "enrollment",
            "event_id": self.buffer.event_id("enr"),
            "ts": ts,
            "shop_id": shop_id,
            "action": action,
        }
        self.buffer.add(ts, "enrollment", shop_id, event)

    def subsidy(self, ts: int, shop_id: str, item_id: str, action: str) -> None:
        event = {
            "type": "subsidy",
            "event_id": self.buffer.event_id("sub"),
            "ts": ts,
            "shop_id": shop_id,
            "item_id": item_id,
            "action": action,
        }
        self.buffer.add(ts, "subsidy", item_id, event)

    def exemption(
        self,
        ts: int,
        shop_id: str,
        scope: str,
        start_ts: int,
        end_ts: int,
        item_id: str | None = None,
        region: str | None = None,
    ) -> None:
        self.reports += 1
        event: dict[str, object] = {
            "type": "exemption",
            "event_id": self.buffer.event_id("exm"),
            "ts": ts,
            "exemption_id": f"FM{self.reports:06d}",
            "scope": scope,
            "shop_id": shop_id,
            "start_ts": start_ts,
            "end_ts": end_ts,
        }
        if item_id is not None:
            event["item_id"] = item_id
        if region is not None:
            event["region"] = region
        self.buffer.add(ts, "exemption", shop_id, event)


def schedule(
    market: Marketplace, timeline: Timeline, rng: random.Random, buffer: DayBuffer
) -> list[Disruption]:
    """File every programme and exemption event; return the disruptions orders must suffer."""
    programs = _Programs(market, timeline, rng, buffer)
    _plan(programs)
    _subsidy(programs)
    return _disruptions(programs)


def _plan(p: _Programs) -> None:
    rng, days, anchors = p.rng, p.days, len(p.market.profile.anchors)
    early: list[str] = []
    for shop in p.market.shops:
        if not shop.in_plan:
            continue
        if shop.rank <= anchors or rng.random() < 0.88 or days < 6:
            p.enrollment(p.at(0, 0.2, 2.0), shop.shop_id, "join")
            if shop.rank > anchors:
                early.append(shop.shop_id)
        else:
            p.enrollment(p.at(rng.randrange(2, max(3, days * 3 // 5)), 9, 18), shop.shop_id, "join")
    rng.shuffle(early)
    if days >= 8 and len(early) >= 1:  # cancel, then join again: counting waits two days again
        shop_id, cancel = early.pop(), days // 3
        p.enrollment(p.at(cancel, 10, 16), shop_id, "cancel")
        p.enrollment(p.at(cancel + 3, 9, 12), shop_id, "join")
    if days >= 6 and len(early) >= 1:  # margin balance ran out, topped up the next day
        shop_id, suspend = early.pop(), days // 4 + 1
        p.enrollment(p.at(suspend, 11, 15), shop_id, "suspend")
        p.enrollment(p.at(suspend + 1, 9, 11), shop_id, "resume")
    if days >= 6 and len(early) >= 1:  # suspended, then gave up
        shop_id, suspend = early.pop(), days // 2
        p.enrollment(p.at(suspend, 14, 18), shop_id, "suspend")
        p.enrollment(p.at(suspend + 2, 10, 12), shop_id, "cancel")
    if days >= 4 and len(early) >= 1:  # a resume while active: ignored by the plan
        p.enrollment(p.at(days // 2, 10, 12), early.pop(), "resume")


def _subsidy(p: _Programs) -> None:
    rng, days = p.rng, p.days
    leavers: list[tuple[str, str]] = []
    for item in p.market.items:
        if item.subsidy:
            role = item.behaviour in (SLOW_SHIP, LATE_PICKUP) or item.spike_days[1] > 0
            if role or rng.random() < 0.9 or days < 6:
                p.subsidy(p.at(0, 0.5, 3.0), item.shop_id, item.item_id, "join")
            else:
                joined = rng.randrange(1, days - 2)
                p.subsidy(p.at(joined, 9, 20), item.shop_id, item.item_id, "join")
                continue
            if item.behaviour in (SLOW_SHIP, LATE_PICKUP):
                # Delisted early; ships on time from ``fixed_from_day``; rejoins once its
                # seven-day window (T-10 … T-4) holds only good days.
                rejoin = item.fixed_from_day + 11
                if rejoin < days:
                    p.subsidy(p.at(rejoin, 9, 17), item.shop_id, item.item_id, "join")
            elif not role:
                leavers.append((item.shop_id, item.item_id))
        elif not item.category.virtual and days >= 6 and rng.random() < 0.02:
            p.subsidy(p.at(rng.randrange(2, days - 1), 9, 20), item.shop_id, item.item_id, "join")
    # A few items leave the activity of their own accord (at least one); some come back.
    if days >= 10 and leavers:
        for shop_id, item_id in rng.sample(leavers, max(1, round(0.04 * len(leavers)))):
            exit_day = rng.randrange(days // 3, days - 1)
            p.subsidy(p.at(exit_day, 9, 20), shop_id, item_id, "exit")
            if rng.random() < 0.3 and exit_day + 4 < days:
                p.subsidy(p.at(exit_day + 4, 9, 20), shop_id, item_id, "join")


def _disruptions(p: _Programs) -> list[Disruption]:
    rng, days, market, starts = p.rng, p.days, p.market, p.timeline.starts
    out: list[Disruption] = []
    anchors = {shop.shop_id for shop in market.shops[: len(market.profile.anchors)]}
    if days < 8:
        return out
    # A typhoon stops pickups in one region for three days; shops with a few orders a day file
    # region-scope reports within a day or so.
    typhoon, region = max(1, days * 7 // 20), "350000"
    start_ts, end_ts = starts[typhoon], starts[typhoon + 3]
    out.append(Disruption(PICKUP, start_ts, end_ts, region=region))
    for shop in market.shops:
        if shop.rate >= 1.0 and rng.random() < 0.6:
            filed = start_ts + int(rng.uniform(4, 30) * MS_HOUR)
            p.exemption(filed, shop.shop_id, "region", start_ts, end_ts, region=region)
    # Warehouse closures: one reported in time, one reported days too late.
    closable = [
        shop
        for shop in market.shops[len(market.profile.anchors) :]
        if shop.rate >= 1.0 and any(item.subsidy for item in shop.items)
    ]
    rng.shuffle(closable)
    for closure, late in ((days // 2, False), (min(days * 3 // 5, days - 7), True)):
        if not closable:
            break
        shop = closable.pop()
        start_ts, end_ts = starts[closure], starts[closure + 2]
        out.append(Disruption(SHIP, start_ts, end_ts, shop_id=shop.shop_id))
        filed = start_ts + int(rng.uniform(3, 12) * MS_HOUR)
        if late:  # after every affected order's 48h reporting window
            filed = end_ts + 3 * MS_DAY + int(rng.uniform(9, 17) * MS_HOUR)
        p.exemption(filed, shop.shop_id, "shop", start_ts, end_ts)
    # A supplier delay of one subsidy item, reported in time with item scope.
    items = [
        item
        for item in market.items
        if item.subsidy
        and item.expected_per_day >= 1.0
        and item.shop_id not in anchors
        and item.behaviour not in (SLOW_SHIP, LATE_PICKUP)
        and item.spike_days[1] == 0
    ]
    if items:
        item = items[rng.randrange(len(items))]
        supply = max(1, days // 5)
        start_ts, end_ts = starts[supply], starts[supply + 3]
        out.append(Disruption(SHIP, start_ts, end_ts, shop_id=item.shop_id, item_id=item.item_id))
        filed = start_ts + int(rng.uniform(6, 20) * MS_HOUR) + rng.randrange(MS_MINUTE)
        p.exemption(filed, item.shop_id, "item", start_ts, end_ts, item_id=item.item_id)
    return out

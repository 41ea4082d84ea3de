"""A campaign laid over the generated calendar (SPEC §4.6, issue #13).

``sellerwatch generate --campaign POLICY.toml`` picks, among the shops that sell on the
campaign's channel, shops that keep its promise and shops that break it in each of the three
ways. Their campaign orders (channel and paid window of the campaign) are then shipped,
picked up and scanned in transit accordingly; every other order is generated as without the
option. The choice draws from its own random stream, and without a campaign nothing here runs,
so existing outputs stay byte-identical.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sellerwatch.generator.model import CHANNELS, Marketplace
from sellerwatch.streams.campaigns import Campaign

KEEP = "keeps the promise"
LATE_SHIP = "late shipment"
LATE_PICKUP = "late pickup"
NO_UPDATE = "no update within the limit"
ROLES = (KEEP, LATE_SHIP, LATE_PICKUP, NO_UPDATE)
H = 3_600_000
#: Shops per role (fewer when the market has fewer shops on the channel).
SHOPS_PER_ROLE = 2


@dataclass
class CampaignPlan:
    """The campaign, the role of each chosen shop, and its own random stream."""

    campaign: Campaign
    roles: dict[str, str]
    rng: random.Random

    def role(self, shop_id: str, channel: str, paid_ts: int) -> str | None:
        """The role that shapes this order, or ``None`` (not a campaign order of a chosen shop)."""
        c = self.campaign
        if channel != c.channel or not c.paid_from_ms <= paid_ts < c.paid_before_ms:
            return None
        return self.roles.get(shop_id)

    def manifest(self) -> dict[str, list[str]]:
        """Role name -> shops, for the run's summary."""
        out: dict[str, list[str]] = {}
        for shop_id, role in sorted(self.roles.items()):
            out.setdefault(f"campaign {self.campaign.name}: {role}", []).append(shop_id)
        return out

    # -- the three instants a role decides -------------------------------------------------
    def ship_ts(self, role: str, paid_ts: int, ship_ts: int) -> int:
        """Late shops ship after ``ship_within``; the others within it."""
        c, uniform = self.campaign, self.rng.uniform
        if role == LATE_SHIP:
            return paid_ts + c.ship_within_ms + int(uniform(1, 20) * H)
        limit = paid_ts + c.ship_within_ms - H
        return max(paid_ts + 60_000, min(ship_ts, limit))

    def pickup_ts(self, role: str, paid_ts: int, pickup_ts: int) -> int:
        """Late-pickup shops' parcels are scanned after ``pickup_within``; the others within."""
        c, uniform = self.campaign, self.rng.uniform
        if role == LATE_PICKUP:
            return max(pickup_ts, paid_ts + c.pickup_within_ms + int(uniform(1, 20) * H))
        if role == LATE_SHIP:
            return pickup_ts
        return min(pickup_ts, paid_ts + c.pickup_within_ms - H // 2)

    def transit_ts(self, role: str, pickup_ts: int, transit_ts: int) -> int:
        """No-update shops' first transit scan comes after ``update_within``; keepers' within."""
        c, uniform = self.campaign, self.rng.uniform
        if role == NO_UPDATE:
            return pickup_ts + c.update_within_ms + int(uniform(1, 30) * H)
        if role == KEEP:
            return pickup_ts + int(uniform(0.1, 0.9) * c.update_within_ms)
        return transit_ts


def plan(campaign: Campaign, market: Marketplace, seed: int) -> CampaignPlan:
    """Choose the role shops among those that sell on the campaign's channel."""
    rng = random.Random(f"{seed}:campaign")
    index = CHANNELS.index(campaign.channel)
    selling = [
        shop.shop_id
        for shop in market.shops
        if shop.channel_cum[index] > (shop.channel_cum[index - 1] if index else 0.0)
    ]
    rng.shuffle(selling)
    roles: dict[str, str] = {}
    for k, shop_id in enumerate(selling[: SHOPS_PER_ROLE * len(ROLES)]):
        roles[shop_id] = ROLES[k % len(ROLES)]
    return CampaignPlan(campaign, roles, rng)

"""The marketplace model: leaf categories, buyer regions, carriers, shops and their items.

Everything is drawn once from the model's own ``random.Random`` so the same seed and profile
give the same marketplace. Sizes are Zipf-like: shop ``r`` (rank from 1) sells in proportion to
``1 / r**s``, and so do the items of a shop. Behaviours are per item (how fast it ships, how fast
the courier picks it up, how often it is refunded for quality) and per shop (plan membership,
same-day discipline, share of official logistics, carriers, basket sizes).

Roles (:meth:`Marketplace.assign_roles`) then pick, by expected volume, the few shops and items
that make every verdict kind of SPEC §4 reachable: anchors for the incentive tiers, refund-spike
items for watch/fine, slow-shipping and late-pickup items for delist.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from itertools import accumulate

from sellerwatch.generator.profiles import Profile

# Item behaviours.
NORMAL = "normal"
FAST = "fast"
SLOW_SHIP = "slow_ship"
LATE_PICKUP = "late_pickup"
REFUND_SPIKE = "refund_spike"
FLAKY = "flaky"  # a persistently higher quality-refund rate, no spike
#: Behaviours that ship on their own (own parcel): their timing must not leak to basket mates.
SOLO = frozenset({SLOW_SHIP, LATE_PICKUP})


@dataclass(frozen=True, slots=True)
class Category:
    """A leaf category: base quality-refund rate, popularity, price range, parcel kind."""

    category_id: str
    name: str
    quality_rate: float
    popularity: float
    price_cents: tuple[int, int]
    bulky: bool = False  # "special" categories: slow, scheduled pickups
    virtual: bool = False  # no parcel: shipments carry needs_logistics = false


CATEGORIES: tuple[Category, ...] = (
    Category("C1001", "phone cases", 0.030, 6.0, (490, 2990)),
    Category("C1002", "charging cables", 0.035, 5.0, (590, 3990)),
    Category("C1003", "bluetooth earbuds", 0.045, 3.0, (3990, 19900)),
    Category("C1004", "kitchen storage", 0.020, 5.0, (990, 5990)),
    Category("C1005", "paper towels", 0.008, 7.0, (990, 3990)),
    Category("C1006", "laundry detergent", 0.006, 5.0, (1290, 4990)),
    Category("C1007", "snacks", 0.012, 7.0, (590, 3990)),
    Category("C1008", "fresh fruit", 0.060, 4.0, (1490, 6990)),
    Category("C1009", "women's t-shirts", 0.040, 6.0, (1990, 7990)),
    Category("C1010", "socks", 0.015, 5.0, (590, 2990)),
    Category("C1011", "kids' toys", 0.025, 3.0, (990, 9990)),
    Category("C1012", "cosmetics", 0.018, 4.0, (1990, 15900)),
    Category("C1013", "stationery", 0.012, 3.0, (290, 2990)),
    Category("C1014", "pet food", 0.010, 3.0, (2990, 15900)),
    Category("C1015", "bedding", 0.030, 2.5, (4990, 29900)),
    Category("C1016", "shoes", 0.035, 3.5, (3990, 19900)),
    Category("C1017", "led bulbs", 0.028, 2.0, (390, 2990)),
    Category("C1018", "garden tools", 0.022, 1.0, (990, 8990)),
    Category("C1019", "sofas", 0.050, 0.5, (59900, 399900), bulky=True),
    Category("C1020", "mattresses", 0.040, 0.5, (39900, 299900), bulky=True),
    Category("C1021", "washing machines", 0.030, 0.4, (99900, 399900), bulky=True),
    Category("C1022", "treadmills", 0.045, 0.3, (89900, 499900), bulky=True),
    Category("C1023", "mobile top-up", 0.001, 1.0, (1000, 10000), virtual=True),
    Category("C1024", "game cards", 0.002, 0.5, (600, 64800), virtual=True),
)

#: Buyer regions (province codes, GB/T 2260) and rough shares of orders.
REGIONS: tuple[tuple[str, float], ...] = (
    ("440000", 9.0),
    ("370000", 7.0),
    ("410000", 7.0),
    ("320000", 6.0),
    ("510000", 6.0),
    ("330000", 5.0),
    ("130000", 5.0),
    ("430000", 5.0),
    ("340000", 4.5),
    ("420000", 4.0),
    ("350000", 3.0),
    ("450000", 3.5),
    ("530000", 3.0),
    ("360000", 3.0),
    ("210000", 3.0),
    ("310000", 2.5),
    ("110000", 2.0),
    ("500000", 2.3),
    ("610000", 2.8),
    ("140000", 2.5),
)
#: Share of payments that carry no region.
NO_REGION = 0.12

#: Express carriers and their waybill prefixes; bulky goods go with freight carriers.
CARRIERS: tuple[tuple[str, str], ...] = (
    ("ZTO", "ZT"),
    ("YTO", "YT"),
    ("STO", "ST"),
    ("YUNDA", "YD"),
    ("JTEXPRESS", "JT"),
    ("SF", "SF"),
    ("EMS", "EM"),
)
FREIGHT_CARRIERS: tuple[tuple[str, str], ...] = (("DEPPON", "DP"), ("ANE", "AN"))

#: Channel mix by shop kind: cumulative weights over ("taote", "taobao", "tmall").
CHANNELS = ("taote", "taobao", "tmall")
_CHANNEL_CUM = {
    "taote": (0.97, 1.0, 1.0),
    "taobao": (0.35, 1.0, 1.0),
    "tmall": (0.2, 0.2, 1.0),
}
#: Sub-orders per checkout (one parcel for the ordinary items): cumulative over 1..4.
BASKET_CUM = (0.80, 0.95, 0.99, 1.0)
ANCHOR_BASKET_CUM = (0.45, 0.75, 0.90, 1.0)


@dataclass(slots=True)
class Item:
    """One item (product) of a shop."""

    item_id: str
    shop_id: str
    category: Category
    price_cents: int
    behaviour: str = NORMAL
    quality_factor: float = 1.0
    #: Paid days [first, last) with a quality-refund spike (REFUND_SPIKE only).
    spike_days: tuple[int, int] = (0, 0)
    #: Paid days before this one ship slowly (SLOW_SHIP / LATE_PICKUP roles that improve).
    fixed_from_day: int = 1 << 30
    subsidy: bool = False
    expected_per_day: float = 0.0


@dataclass(slots=True)
class Shop:
    """One shop: its size, channels, programs and shipping habits."""

    shop_id: str
    rank: int
    rate: float  # ordinary orders per day (Zipf share of orders-per-day)
    kind: str  # taote / taobao / tmall
    channel_cum: tuple[float, float, float]
    in_plan: bool
    same_day: bool  # ships orders paid before 17:00 by 20:00 the same day
    official_rate: float
    carriers: tuple[tuple[str, str], ...]
    basket_cum: tuple[float, ...] = BASKET_CUM
    items: list[Item] = field(default_factory=list)
    item_cum: list[float] = field(default_factory=list)
    anchor_rate: int = 0
    promo_weeks: tuple[int, ...] | None = None


def zipf_weights(n: int, s: float) -> list[float]:
    """``1 / r**s`` for ranks 1..n."""
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


class Marketplace:
    """Shops, items and categories of one generated run."""

    def __init__(self, profile: Profile, rng: random.Random) -> None:
        """Draw the marketplace of ``profile`` from ``rng``."""
        if profile.shops < max(1, len(profile.anchors)):
            raise ValueError(f"--shops must be >= {max(1, len(profile.anchors))} for this profile")
        if profile.items_per_shop < 1:
            raise ValueError("--items-per-shop must be >= 1")
        self.profile = profile
        self.regions = [code for code, _ in REGIONS]
        self.region_cum = list(accumulate(weight for _, weight in REGIONS))
        ordinary = [c for c in CATEGORIES if not c.virtual]
        self._ordinary_cum = list(accumulate(c.popularity for c in ordinary))
        self._ordinary = ordinary
        self._all_cum = list(accumulate(c.popularity for c in CATEGORIES))
        weights = zipf_weights(profile.shops, profile.zipf_shops)
        total = sum(weights)
        self.shops: list[Shop] = []
        self.items: list[Item] = []
        item_no = 0
        for rank, weight in enumerate(weights, start=1):
            shop = self._draw_shop(rng, rank, profile.orders_per_day * weight / total)
            count = max(1, round(profile.items_per_shop * rng.uniform(0.5, 1.5)))
            main = rng.choices(self._ordinary, cum_weights=self._ordinary_cum)[0]
            item_weights = zipf_weights(count, profile.zipf_items)
            item_total = sum(item_weights)
            for index in range(count):
                item_no += 1
                item = self._draw_item(rng, shop, f"I{item_no:07d}", main, index)
                item.expected_per_day = shop.rate * item_weights[index] / item_total
                shop.items.append(item)
                self.items.append(item)
            shop.item_cum = list(accumulate(item_weights))
            self.shops.append(shop)
        self.shop_by_id = {shop.shop_id: shop for shop in self.shops}

    # -- drawing ---------------------------------------------------------------------------
    def _draw_shop(self, rng: random.Random, rank: int, rate: float) -> Shop:
        kind = rng.choices(("taote", "taobao", "tmall"), (0.4, 0.4, 0.2))[0]
        in_plan = rng.random() < {"taote": 0.7, "taobao": 0.25, "tmall": 0.1}[kind]
        same_day = in_plan and rng.random() < 0.85
        official = rng.uniform(0.9, 0.99) if in_plan else rng.uniform(0.4, 0.8)
        first = rng.choice(CARRIERS)
        carriers = (first,) if rng.random() < 0.5 else (first, rng.choice(CARRIERS))
        return Shop(
            shop_id=f"S{rank:05d}",
            rank=rank,
            rate=rate,
            kind=kind,
            channel_cum=_CHANNEL_CUM[kind],
            in_plan=in_plan,
            same_day=same_day,
            official_rate=official,
            carriers=carriers,
        )

    def _draw_item(
        self, rng: random.Random, shop: Shop, item_id: str, main: Category, index: int
    ) -> Item:
        if index == 0 or rng.random() < 0.7:
            category = main
        else:
            category = rng.choices(CATEGORIES, cum_weights=self._all_cum)[0]
        low, high = category.price_cents
        price = int(round(rng.uniform(low, high), -1)) - 10  # prices end in 9 (…x.x9 yuan)
        behaviour = FAST if shop.same_day else NORMAL
        draw = rng.random()
        if draw < 0.012:
            behaviour = SLOW_SHIP
        elif draw < 0.024:
            behaviour = LATE_PICKUP
        quality_factor = rng.lognormvariate(0.0, 0.35)
        if rng.random() < 0.03:
            behaviour, quality_factor = FLAKY, rng.uniform(2.0, 3.0)
        # The official-subsidy activity is a Taote programme: mostly Taote shops' good items.
        subsidy_chance = 0.3 if shop.kind == "taote" else 0.1
        subsidy = (
            not category.virtual
            and behaviour in (FAST, NORMAL, FLAKY)
            and rng.random() < subsidy_chance
        )
        return Item(
            item_id,
            shop.shop_id,
            category,
            max(price, 0),
            behaviour,
            quality_factor,
            subsidy=subsidy,
        )

    # -- roles -----------------------------------------------------------------------------
    def assign_roles(self, rng: random.Random, days: int) -> None:
        """Make anchors, refund-spike, slow-shipping and late-pickup roles (see module doc)."""
        profile = self.profile
        for shop, anchor in zip(self.shops, profile.anchors, strict=False):
            shop.kind, shop.channel_cum = "taote", _CHANNEL_CUM["taote"]
            shop.in_plan = shop.same_day = True
            shop.official_rate = 0.985
            shop.basket_cum = ANCHOR_BASKET_CUM
            shop.anchor_rate = anchor.orders_per_day
            shop.promo_weeks = anchor.promo_weeks
            for item in shop.items:
                item.behaviour, item.subsidy = FAST, False
                item.quality_factor = min(item.quality_factor, 1.0)
        anchors = {shop.shop_id for shop in self.shops[: len(profile.anchors)]}
        # Candidates: ordinary (non-bulky, non-virtual) items outside the anchors, by volume.
        pool = sorted(
            (
                item
                for item in self.items
                if item.shop_id not in anchors
                and not item.category.bulky
                and not item.category.virtual
            ),
            key=lambda item: -item.expected_per_day,
        )
        taken: set[str] = set()
        spike_shops: set[str] = set()
        spike_length = min(14, max(7, days * 2 // 3))
        # Refund spikes: a defective batch of a best-selling item, in one of the biggest
        # categories, so that the item is a small share of its category's orders.
        by_category: dict[Category, float] = {}
        for item in self.items:
            by_category[item.category] = by_category.get(item.category, 0.0) + item.expected_per_day
        big = sorted(
            (c for c in by_category if not c.bulky and not c.virtual), key=lambda c: -by_category[c]
        )[:3]
        for item in pool:
            if len(spike_shops) >= profile.spike_items:
                break
            if item.shop_id in spike_shops:
                continue  # one spike per shop
            category = big[len(spike_shops) % len(big)]
            if category is not item.category:
                by_category[item.category] -= item.expected_per_day
                by_category[category] += item.expected_per_day
                item.category = category
                item.price_cents = int(round(rng.uniform(*category.price_cents), -1)) - 10
            start = 0 if days < 28 else rng.randrange(0, max(1, days - spike_length - 10))
            item.behaviour, item.quality_factor = REFUND_SPIKE, 1.0
            item.spike_days = (start, start + spike_length)
            item.subsidy = True
            taken.add(item.item_id)
            spike_shops.add(item.shop_id)
        # Virtual goods (shipments with no parcel): make sure some sell, even in a small run.
        if not any(i.category.virtual and i.expected_per_day >= 0.3 for i in self.items):
            for item in reversed(pool):
                if item.expected_per_day >= 0.5 and item.item_id not in taken:
                    item.category = next(c for c in CATEGORIES if c.virtual)
                    item.price_cents = 3000
                    item.subsidy, item.behaviour = False, NORMAL
                    taken.add(item.item_id)
                    break
        # Slow and late-pickup roles: items with a few orders a day (mid-sized ones first), in
        # the subsidy activity. They get better after a while and rejoin (see programs.py).
        fixed = max(4, days * 2 // 5)
        candidates = [item for item in pool if item.expected_per_day >= 1.0]
        candidates.sort(key=lambda item: (item.expected_per_day > 8.0, -item.expected_per_day))
        roles = [SLOW_SHIP] * profile.slow_items + [LATE_PICKUP] * profile.late_pickup_items
        roles.reverse()
        for item in candidates:
            if not roles:
                break
            if item.item_id in taken:
                continue
            item.behaviour, item.subsidy = roles.pop(), True
            item.fixed_from_day = fixed
            taken.add(item.item_id)

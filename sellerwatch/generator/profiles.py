"""Workload profiles: how big a generated marketplace is and which behaviours it must show.

A profile fixes the size (days, shops, items, orders per day), the start date and the *roles*
that make every verdict kind appear: anchor shops large enough for the same-day-ship incentive
tiers, refund-spike items (watch, fine), slow-shipping and late-pickup items (delist). Command
line options override the size fields with :func:`dataclasses.replace`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Anchor:
    """A shop sized for an incentive tier: ``orders_per_day`` in its promo weeks.

    ``promo_weeks`` are indexes of Monday–Sunday weeks counted from the first Monday on which
    a plan joined on the first day already counts (day 2 or later); ``None`` means every day.
    Outside its promo weeks an anchor sells at its ordinary Zipf rate.
    """

    orders_per_day: int
    promo_weeks: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Profile:
    """Size and roles of one generated workload."""

    name: str
    days: int
    shops: int
    items_per_shop: int
    orders_per_day: int
    start: date
    anchors: tuple[Anchor, ...]
    spike_items: int
    slow_items: int
    late_pickup_items: int
    zipf_shops: float = 1.05
    zipf_items: float = 1.1


#: 2024-06-01 is a Saturday: shops that join the plan on the first day count from Monday.
DEFAULT_START = date(2024, 6, 1)

PROFILES: dict[str, Profile] = {
    # ~20k events: three weeks, one big Taote shop whose 618 warm-up week (2024-06-10..16)
    # reaches the 20-cent tier; everything else stays small.
    "small": Profile(
        name="small",
        days=21,
        shops=30,
        items_per_shop=5,
        orders_per_day=110,
        start=DEFAULT_START,
        anchors=(Anchor(360, promo_weeks=(1,)),),
        spike_items=1,
        slow_items=1,
        late_pickup_items=1,
    ),
    # ~300k events: five weeks, one shop in the 30-cent tier every week, one in the 20-cent
    # tier during the 618 weeks.
    "medium": Profile(
        name="medium",
        days=35,
        shops=250,
        items_per_shop=8,
        orders_per_day=1_100,
        start=DEFAULT_START,
        anchors=(Anchor(1_200), Anchor(360, promo_weeks=(1, 2))),
        spike_items=3,
        slow_items=4,
        late_pickup_items=4,
    ),
    # >= 3M events: two months, 2,000 shops; several shops in each tier.
    "large": Profile(
        name="large",
        days=60,
        shops=2_000,
        items_per_shop=10,
        orders_per_day=13_000,
        start=DEFAULT_START,
        anchors=(
            Anchor(1_250),
            Anchor(1_180, promo_weeks=(1, 2)),
            Anchor(400),
            Anchor(370),
            Anchor(350, promo_weeks=(1, 2, 5)),
        ),
        spike_items=10,
        slow_items=15,
        late_pickup_items=15,
    ),
}

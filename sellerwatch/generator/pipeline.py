"""One generation run: model, programmes, orders day by day, faults, in bounded memory.

:class:`Generator` wires the parts and yields the output one day at a time
(:meth:`Generator.batches`): generate the checkouts paid on day ``D``, flush day ``D`` from the
rolling buffer (sorted by ``ts``), pass it through the faults. Each part draws from its own
``random.Random`` seeded from the run's seed and the part's name, so the output is a function of
the seed and the options only, and faults never change the events themselves.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from sellerwatch.generator.buffer import DayBuffer, Record
from sellerwatch.generator.campaign import plan
from sellerwatch.generator.faults import Faults
from sellerwatch.generator.model import Marketplace
from sellerwatch.generator.orders import OrderFactory
from sellerwatch.generator.profiles import Profile
from sellerwatch.generator.programs import schedule
from sellerwatch.generator.timebase import Timeline
from sellerwatch.streams.campaigns import Campaign


@dataclass(frozen=True)
class FaultOptions:
    """Faults on request (see :mod:`sellerwatch.generator.faults`)."""

    shuffle_ms: int = 0
    dup_rate: float = 0.0
    bad_rate: float = 0.0
    late_rate: float = 0.0


@dataclass
class Summary:
    """What a run produced, for the closing summary on stderr."""

    profile: str
    seed: int
    events_by_type: Counter[str]
    orders: int
    checkouts: int
    parcels: int
    shops: int
    shops_with_orders: int
    items: int
    items_with_orders: int
    first_day: str
    last_day: str
    first_ts: int | None
    last_ts: int | None
    cut_off: int
    lifecycle: Counter[str]
    faults: Counter[str]
    bad_by_reason: Counter[str]
    roles: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def events(self) -> int:
        """Valid events generated (before duplicates and bad records are added)."""
        return sum(self.events_by_type.values())

    @property
    def lines(self) -> int:
        """Records written: events, plus duplicates and bad records."""
        return self.events + self.faults["duplicate"] + self.faults["bad"]

    def text(self) -> list[str]:
        """Human-readable lines."""
        kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(self.events_by_type.items()))
        out = [
            f"generated {self.events:,} events ({self.profile} profile, seed {self.seed}) "
            f"in {self.seconds:.1f}s: {kinds}",
            f"orders {self.orders:,} in {self.checkouts:,} checkouts, {self.parcels:,} parcels; "
            f"shops {self.shops_with_orders:,}/{self.shops:,} and items "
            f"{self.items_with_orders:,}/{self.items:,} with orders",
            f"dates {self.first_day} .. {self.last_day} (Asia/Shanghai local days); "
            f"{self.cut_off:,} follow-up events after the end were cut off",
        ]
        life = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in sorted(self.lifecycle.items()))
        if life:
            out.append(f"lifecycle: {life}")
        if self.roles:
            out.append(
                "roles: " + "; ".join(f"{k} {', '.join(v)}" for k, v in self.roles.items() if v)
            )
        if self.faults:
            faults = ", ".join(
                f"{k.replace('_', ' ')} {v:,}" for k, v in sorted(self.faults.items())
            )
            out.append(f"faults: {faults}; {self.lines:,} records written")
        if self.bad_by_reason:
            out.append(
                "bad records by reason: "
                + ", ".join(f"{k} {v:,}" for k, v in sorted(self.bad_by_reason.items()))
            )
        return out


class Generator:
    """A deterministic run of the workload generator."""

    def __init__(
        self,
        profile: Profile,
        seed: int,
        faults: FaultOptions | None = None,
        tz_name: str = "Asia/Shanghai",
        campaign: Campaign | None = None,
    ) -> None:
        """Build the marketplace and schedule the programmes; nothing is generated yet.

        ``campaign`` lays a SPEC §4.6 campaign over the calendar (:mod:`.campaign`).
        """
        faults = faults or FaultOptions()
        self.profile, self.seed = profile, seed
        self.timeline = Timeline(profile.start, profile.days, tz_name)
        model_rng = random.Random(f"{seed}:model")
        self.market = Marketplace(profile, model_rng)
        self.market.assign_roles(model_rng, profile.days)
        self.buffer = DayBuffer(self.timeline)
        disruptions = schedule(
            self.market, self.timeline, random.Random(f"{seed}:programs"), self.buffer
        )
        self.orders = OrderFactory(
            self.market, self.timeline, random.Random(f"{seed}:orders"), self.buffer, disruptions
        )
        self.campaign = None if campaign is None else plan(campaign, self.market, seed)
        self.orders.campaign = self.campaign
        self.faults = Faults(
            random.Random(f"{seed}:faults"),
            shuffle_ms=faults.shuffle_ms,
            dup_rate=faults.dup_rate,
            bad_rate=faults.bad_rate,
            late_rate=faults.late_rate,
        )
        self.max_buffered = 0
        self._first_ts: int | None = None
        self._last_ts: int | None = None
        self._started = time.perf_counter()
        self._seconds = 0.0

    def batches(self) -> Iterator[list[Record]]:
        """The output, one local day at a time (sorted by ``ts`` unless faults reorder it)."""
        self._started = time.perf_counter()
        for day in range(self.profile.days):
            self.orders.day(day)
            self.max_buffered = max(self.max_buffered, self.buffer.pending())
            records = self.buffer.flush(day)
            if records:
                if self._first_ts is None:
                    self._first_ts = records[0][0]
                self._last_ts = records[-1][0]
            batch = self.faults.process(records)
            if batch:
                yield batch
        tail = self.faults.finish()
        if tail:
            yield tail
        self._seconds = time.perf_counter() - self._started

    def summary(self) -> Summary:
        """Counts of the run (complete once :meth:`batches` is exhausted)."""
        market, orders = self.market, self.orders
        roles: dict[str, list[str]] = {
            "incentive anchors": [
                shop.shop_id for shop in market.shops[: len(self.profile.anchors)]
            ]
        }
        for item in market.items:
            if item.spike_days[1]:
                roles.setdefault("refund spikes", []).append(item.item_id)
            elif item.fixed_from_day < 1 << 30:
                roles.setdefault(f"{item.behaviour.replace('_', ' ')}", []).append(item.item_id)
        if self.campaign is not None:
            roles.update(self.campaign.manifest())
        return Summary(
            profile=self.profile.name,
            seed=self.seed,
            events_by_type=Counter(self.buffer.by_type),
            orders=orders.orders,
            checkouts=orders.checkouts,
            parcels=orders.counts["parcels"],
            shops=len(market.shops),
            shops_with_orders=len(orders.shops_seen),
            items=len(market.items),
            items_with_orders=len(orders.items_seen),
            first_day=self.timeline.iso(0),
            last_day=self.timeline.iso(self.profile.days - 1),
            first_ts=self._first_ts,
            last_ts=self._last_ts,
            cut_off=self.buffer.cut_off,
            lifecycle=Counter({k: v for k, v in orders.counts.items() if k != "parcels"}),
            faults=Counter(self.faults.counts),
            bad_by_reason=Counter(self.faults.bad_by_reason),
            roles=roles,
            seconds=self._seconds,
        )

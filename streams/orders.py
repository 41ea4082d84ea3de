"""Order lifecycle facts (SPEC §2.1) and the bounded joins of §7.

Events reach this module in event-time order (the engine applies them sorted by ``ts``, ties in
arrival order), so "the smallest ts among ..." is simply "the first one that joins". Facts are
stored as raw instants and judged at evaluation time, where every event with ``ts < E`` and no
other has been applied.

Joins, bounded by event time (SPEC §7):
- a shipment or refund joins its order if ``paid_ts - event.ts <= orphan_retention``; one that
  arrives before its payment waits in ``orphans`` until the payment or until it expires;
- a pickup scan joins an order if the order's earliest shipment has
  ``ship_ts - scan.ts <= orphan_retention``; scans are kept per waybill for twice the retention,
  because a shipment may itself precede its payment by the retention.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Container
from sys import intern
from typing import Protocol

from sellerwatch.schemas.events import Payment, PickupScan, Refund, Shipment
from sellerwatch.streams.campaigns import Campaign
from sellerwatch.streams.id_set import CompactIdSet
from sellerwatch.streams.ids import DAY_MS


class OrderWatch(Protocol):
    """What a rule that keeps running counts over orders is told as facts arrive (the
    quality-refund window, :class:`streams.rules.quality_refund.QualityWindow`): the counts
    are the rule's, the book only says what happened."""

    def paid(self, order: Order) -> None:
        """``order`` was just paid (created in the book)."""

    def refunded_for_quality(self, order: Order) -> None:
        """``order`` just got its counted quality refund (SPEC §4.4)."""


class Unwatched:
    """No rule watches this book (a waybill stage, a coordinator's empty book)."""

    __slots__ = ()

    def paid(self, order: Order) -> None:
        """Nothing to count."""

    def refunded_for_quality(self, order: Order) -> None:
        """Nothing to count."""


class Order:
    """One paid sub-order and its lifecycle facts (instants in epoch ms, ``None`` = not yet)."""

    __slots__ = (
        "order_id",
        "paid_ts",
        "paid_day",
        "shop_id",
        "item_id",
        "category_id",
        "region",
        "taote",
        "ship_ts",
        "tracking_no",
        "official",
        "needs_logistics",
        "pickup_ts",
        "refund_ts",
        "quality",
        "exempt",
        "bucket",
    )

    def __init__(self, event: Payment, paid_day: int, bucket: Bucket) -> None:
        """Create the order from its payment, placed in its (item, paid day) bucket."""
        self.order_id = event.order_id
        self.paid_ts = event.ts
        self.paid_day = paid_day
        self.shop_id = event.shop_id
        self.item_id = event.item_id
        self.category_id = event.category_id
        self.region = intern(event.region) if event.region is not None else None
        self.taote = event.channel == "taote"
        self.ship_ts: int | None = None
        self.tracking_no: str | None = None
        self.official = False
        self.needs_logistics = True
        self.pickup_ts: int | None = None
        self.refund_ts: int | None = None
        self.quality = False
        self.exempt: bool | None = None
        self.bucket = bucket

    def refunded_before_shipment(self) -> bool:
        """A refund (any reason) with ``ts < ship_ts``, or a refund and no shipment."""
        refund_ts = self.refund_ts
        if refund_ts is None:
            return False
        return self.ship_ts is None or refund_ts < self.ship_ts


class CampaignOrder(Order):
    """An order some campaign judges (SPEC §4.6): it also keeps ``update_ts``, the first
    ``transit``/``delivered`` scan at or after ``pickup_ts`` on its waybill. A subclass, so
    that orders no campaign judges (and campaign-less policies) keep their size."""

    __slots__ = ("update_ts",)

    def __init__(self, event: Payment, paid_day: int, bucket: Bucket) -> None:
        """An order of a campaign, with no update seen yet."""
        super().__init__(event, paid_day, bucket)
        self.update_ts: int | None = None


def latest(kept: int | list[int]) -> int:
    """The latest of a waybill's kept scan instants (one, or a list in ascending order)."""
    return kept if type(kept) is int else kept[-1]  # type: ignore[index]


def scan_count(kept: int | list[int]) -> int:
    """How many scans a waybill's kept instants are."""
    return 1 if type(kept) is int else len(kept)  # type: ignore[arg-type]


def _first_at_or_after(kept: int | list[int] | None, ts: int) -> int | None:
    """The smallest kept instant ``>= ts`` (kept ascending)."""
    if kept is None:
        return None
    for value in (kept,) if isinstance(kept, int) else kept:
        if value >= ts:
            return value
    return None


class Bucket:
    """The orders of one item paid on one local day.

    ``changes`` counts the facts of its orders that arrived (a payment, a shipment, a pickup, a
    refund): a rule that keeps figures per bucket recounts them only when it moved
    (:class:`streams.rules.ship48_pickup24.BucketCounts`).
    """

    __slots__ = ("orders", "changes")

    def __init__(self) -> None:
        """An empty bucket."""
        self.orders: list[Order] = []
        self.changes = 0


class ItemOrders:
    """Per item: its buckets by paid day, the shop and category of its latest payment.

    Kept after its orders are evicted: a tagged or observed item still needs its shop.
    """

    __slots__ = ("item_id", "shop_id", "category_id", "buckets")

    def __init__(self, item_id: str, shop_id: str, category_id: str) -> None:
        """An item first seen in a payment."""
        self.item_id = item_id
        self.shop_id = shop_id
        self.category_id = category_id
        self.buckets: dict[int, Bucket] = {}


def expired_waiting(waiting: dict[str, list[Shipment | Refund]], horizon: int) -> list[str]:
    """The orders whose waiting events :func:`drop_waiting` drops at ``horizon``."""
    return [k for k, v in waiting.items() if v[-1].ts < horizon]


def drop_waiting(waiting: dict[str, list[Shipment | Refund]], horizon: int) -> int:
    """Forget the orders' waiting events whose latest is before ``horizon``; returns how many
    events were dropped (orphans, SPEC §5)."""
    dropped = 0
    for order_id in expired_waiting(waiting, horizon):
        dropped += len(waiting.pop(order_id))
    return dropped


class OrderBook:
    """All order state: orders, waybills, orphans and day buckets; the running window counts
    are a rule's (``watch``)."""

    #: Whether expired scans of a waybill no order was shipped under count as orphans. A
    #: partition of a partitioned engine holds copies of some waybills' scans; the waybill
    #: stage, which sees every scan once, counts them instead.
    count_scan_orphans = True
    #: When a list, every waybill whose order, scans or updates this book lets go of is
    #: appended to it: a partitioned engine re-checks only those, not every waybill, for
    #: whether the partition still needs its scans.
    released_waybills: list[str] | None = None

    def __init__(
        self,
        orphan_retention_ms: int,
        quality_refund_within_ms: int,
        campaigns: tuple[Campaign, ...] = (),
    ) -> None:
        """Empty book with the join bound and the quality-refund bound of the policy.

        With ``campaigns``, the orders they judge keep ``update_ts`` and transit/delivered
        scans are kept per waybill like pickups; without, both are ignored as before.
        """
        self.campaigns = campaigns
        # Waybill → transit/delivered scan ts (ascending), only with campaigns: the first
        # one at or after each kept pickup, and the latest (see add_scan).
        self.updates: dict[str, int | list[int]] = {}
        self.retention_ms = orphan_retention_ms
        self.refund_within_ms = quality_refund_within_ms
        self.orders: dict[str, Order] = {}
        self.items: dict[str, ItemOrders] = {}
        self.days: dict[int, dict[str, Bucket]] = {}
        # Waybill → the order shipped under it, or a list when a parcel carries several.
        self.by_tracking: dict[str, Order | list[Order]] = {}
        # Waybill → pickup scan ts, or a list of them (ascending) when scanned more than once.
        self.scans: dict[str, int | list[int]] = {}
        # UTC day of a waybill's latest pickup scan → the waybills filed under it then (some
        # since filed under a later day, or dropped): expiry reads only the days old enough,
        # not every waybill every day.
        self.scan_days: dict[int, list[str]] = {}
        self.orphans: dict[str, list[Shipment | Refund]] = {}
        self.taote_weeks: dict[int, dict[str, list[Order]]] = {}
        #: Told of payments and quality refunds: the rule whose running counts read them.
        self.watch: OrderWatch = Unwatched()
        self.orphans_dropped = 0
        # Paid order ids whose orders were evicted, with their paid_ts (SPEC §7 id memory): a
        # payment for one within the order horizon is a second payment. Filed by eviction day;
        # past the horizon an id moves to ``ever_paid``.
        self.tombstones: dict[str, int] = {}
        self._tombstone_days: deque[tuple[int, list[str]]] = deque()
        # Every order id paid before the order horizon. A shipment or refund joins the latest
        # payment of its id before it, however old (SPEC §7), so it must not wait as an orphan
        # for a new payment of a reused id: the one part of the state that grows with history
        # (one id per order, docs/decisions.md), so it is kept compact (a few bytes an id).
        self.ever_paid = CompactIdSet()

    def upgrade_snapshot(self) -> None:
        """Read from a snapshot of an older version: ``ever_paid`` as a set (before it was
        compact), no ``scan_days`` (before expiry read only the old days)."""
        if isinstance(self.ever_paid, set):
            self.ever_paid = CompactIdSet(sorted(self.ever_paid))
        if not hasattr(self, "scan_days"):
            self.scan_days = {}
            for tracking, kept in self.scans.items():
                self.file_scans(tracking, None, latest(kept))

    def file_scans(self, tracking: str, before: int | None, latest: int) -> None:
        """The waybill's latest pickup scan moved from ``before`` (``None``: it had none) to
        ``latest``: file it under that day, unless it is filed there already."""
        day = latest // DAY_MS
        if before is None or before // DAY_MS != day:
            filed = self.scan_days.get(day)
            if filed is None:
                self.scan_days[day] = [tracking]
            else:
                filed.append(tracking)

    # -- id memory ------------------------------------------------------------------------
    def paid_ts(self, order_id: str) -> int | None:
        """``paid_ts`` of the latest applied payment of ``order_id`` still remembered."""
        order = self.orders.get(order_id)
        if order is not None:
            return order.paid_ts
        return self.tombstones.get(order_id)

    def forget_paid_before(self, horizon_ts: int) -> None:
        """Evicted order ids paid before ``horizon_ts`` (``W - order_horizon``) are no longer
        second payments: keep only that they were paid."""
        days, tombstones, ever_paid = self._tombstone_days, self.tombstones, self.ever_paid
        while days and days[0][0] < horizon_ts:
            for order_id in days.popleft()[1]:
                paid = tombstones.get(order_id)
                if paid is not None and paid < horizon_ts:
                    del tombstones[order_id]
                    ever_paid.add(order_id)

    # -- applying events ----------------------------------------------------------------
    def add_payment(self, event: Payment, paid_day: int, monday: int) -> Order:
        """Create the order, file it by item/day, week and waybill, attach waiting events."""
        # Interned ids: many orders share one string object per shop, item and category.
        item_id = intern(event.item_id)
        shop_id = intern(event.shop_id)
        category_id = intern(event.category_id)
        item = self.items.get(item_id)
        if item is None:
            item = self.items[item_id] = ItemOrders(item_id, shop_id, category_id)
        else:
            item.shop_id = shop_id
            item.category_id = category_id
        bucket = item.buckets.get(paid_day)
        if bucket is None:
            bucket = item.buckets[paid_day] = Bucket()
            self.days.setdefault(paid_day, {})[item_id] = bucket
        if self.campaigns and any(
            c.channel == event.channel and c.paid_from_ms <= event.ts < c.paid_before_ms
            for c in self.campaigns
        ):
            order: Order = CampaignOrder(event, paid_day, bucket)
        else:
            order = Order(event, paid_day, bucket)
        order.item_id = item_id
        order.shop_id = shop_id
        order.category_id = category_id
        bucket.orders.append(order)
        bucket.changes += 1
        self.orders[event.order_id] = order
        if order.taote:
            self.taote_weeks.setdefault(monday, {}).setdefault(shop_id, []).append(order)
        self.watch.paid(order)
        if self.orphans and event.order_id in self.orphans:
            waiting = self.orphans.pop(event.order_id)
            for early in waiting:
                if order.paid_ts - early.ts <= self.retention_ms:
                    self._join(order, early)
                else:
                    self.orphans_dropped += 1
        return order

    def add_order_event(self, event: Shipment | Refund) -> None:
        """Join a shipment or refund to its order, or keep it until the payment comes."""
        order = self.orders.get(event.order_id)
        if order is None:
            forgotten = self.tombstones.get(event.order_id)
            if (forgotten is not None and forgotten < event.ts) or event.order_id in self.ever_paid:
                return  # joins its evicted order (SPEC §7): no window reads it any more
            self.orphans.setdefault(event.order_id, []).append(event)
        elif order.paid_ts - event.ts <= self.retention_ms:
            self._join(order, event)
        else:
            self.orphans_dropped += 1

    def add_scan(self, event: PickupScan) -> None:
        """Record a pickup scan on its waybill and give it to the orders shipped under it."""
        if event.scan != "pickup":
            if self.campaigns:
                self._add_update(event)
            return
        tracking, ts = event.tracking_no, event.ts
        kept = self.scans.get(tracking)
        if kept is None:
            self.scans[tracking] = ts
            self.file_scans(tracking, None, ts)
        elif type(kept) is int:
            self.scans[tracking] = [kept, ts]
            self.file_scans(tracking, kept, ts)
        else:
            self.file_scans(tracking, kept[-1], ts)  # type: ignore[index]
            kept.append(ts)  # type: ignore[union-attr]
        shipped = self.by_tracking.get(tracking)
        if shipped is None:
            return
        for order in shipped if type(shipped) is list else (shipped,):
            if order.pickup_ts is None and order.ship_ts - ts <= self.retention_ms:  # type: ignore[operator,union-attr]
                order.pickup_ts = ts  # type: ignore[union-attr]
                order.bucket.changes += 1  # type: ignore[union-attr]
                if type(order) is CampaignOrder:
                    order.update_ts = _first_at_or_after(self.updates.get(tracking), ts)

    def _add_update(self, event: PickupScan) -> None:
        """A transit/delivered scan: the update of the campaign orders picked up on its
        waybill that have none yet, and kept for orders whose shipment or pickup comes later.

        Scans arrive in ts order, so of the kept updates only the first at or after each kept
        pickup can still be an ``update_ts``, plus the latest (a pickup with its very ts may
        follow): the one before is replaced when no pickup falls between them.
        """
        tracking, ts = event.tracking_no, event.ts
        kept = self.updates.get(tracking)
        if kept is None:
            self.updates[tracking] = ts
        else:
            values: list[int] = [kept] if isinstance(kept, int) else kept
            last = values[-1]
            before = values[-2] if len(values) > 1 else None
            pickups = self.scans.get(tracking)
            pickup_list = (
                [] if pickups is None else [pickups] if isinstance(pickups, int) else pickups
            )
            needed = any((before is None or p > before) and p <= last for p in pickup_list)
            if needed:
                values.append(ts)
            else:
                values[-1] = ts
            self.updates[tracking] = values[0] if len(values) == 1 else values
        shipped = self.by_tracking.get(tracking)
        if shipped is None:
            return
        for order in shipped if type(shipped) is list else (shipped,):
            if (
                type(order) is CampaignOrder
                and order.update_ts is None
                and order.pickup_ts is not None
                and ts >= order.pickup_ts
            ):
                order.update_ts = ts

    def _join(self, order: Order, event: Shipment | Refund) -> None:
        bucket = order.bucket
        if type(event) is Shipment:
            if order.ship_ts is not None:
                return  # only the earliest shipment matters; later waybills are ignored
            order.ship_ts = event.ts
            tracking = intern(event.tracking_no)
            order.tracking_no = tracking
            order.official = bool(event.official_logistics)
            order.needs_logistics = event.needs_logistics is not False
            shipped = self.by_tracking.get(tracking)
            if shipped is None:
                self.by_tracking[tracking] = order
            elif type(shipped) is list:
                shipped.append(order)
            else:
                self.by_tracking[tracking] = [shipped, order]  # type: ignore[list-item]
            scans = self.scans.get(tracking)
            if scans is not None:
                for scan_ts in (scans,) if type(scans) is int else scans:  # type: ignore[union-attr]
                    if event.ts - scan_ts <= self.retention_ms:
                        order.pickup_ts = scan_ts
                        break
            if type(order) is CampaignOrder and order.pickup_ts is not None:
                order.update_ts = _first_at_or_after(self.updates.get(tracking), order.pickup_ts)
        else:
            assert type(event) is Refund  # noqa: S101 - only two event types join orders
            if order.refund_ts is None:
                order.refund_ts = event.ts
            if (
                event.reason == "quality"
                and not order.quality
                and event.ts - order.paid_ts <= self.refund_within_ms
            ):
                order.quality = True
                self.watch.refunded_for_quality(order)
        bucket.changes += 1

    # -- retention ----------------------------------------------------------------------
    def evict_before(self, day: int) -> None:
        """Forget orders paid before local day ``day`` and their buckets (no rule reads them)."""
        for old in sorted(d for d in self.days if d < day):
            evicted: list[str] = []
            latest_paid = 0
            for item_id, bucket in self.days.pop(old).items():
                item = self.items[item_id]
                del item.buckets[old]
                orders, bucket.orders = bucket.orders, []  # break the order <-> bucket cycle
                for order in orders:
                    if self.orders.get(order.order_id) is order:
                        del self.orders[order.order_id]
                        self.tombstones[order.order_id] = order.paid_ts
                        evicted.append(order.order_id)
                        latest_paid = max(latest_paid, order.paid_ts)
                    tracking = order.tracking_no
                    if tracking is not None:
                        shipped = self.by_tracking.get(tracking)
                        if shipped is order:
                            del self.by_tracking[tracking]
                            if self.released_waybills is not None:
                                self.released_waybills.append(tracking)
                        elif type(shipped) is list and order in shipped:
                            shipped.remove(order)
                            if not shipped:
                                del self.by_tracking[tracking]
                                if self.released_waybills is not None:
                                    self.released_waybills.append(tracking)
            if evicted:
                self._tombstone_days.append((latest_paid, evicted))

    def expiring_scans(self, watermark_ts: int) -> list[str]:
        """The waybills whose pickup scans :meth:`expire_orphans` drops at ``watermark_ts``:
        the latest is older than twice the join bound (SPEC §7)."""
        scan_horizon = watermark_ts - 2 * self.retention_ms
        last_day = scan_horizon // DAY_MS  # of the days filed, the only ones that can expire
        scans, days = self.scans, self.scan_days
        expiring: dict[str, None] = {}
        for day in sorted(d for d in days if d <= last_day):
            for tracking in days[day]:
                kept = scans.get(tracking)
                if kept is not None and latest(kept) < scan_horizon:
                    expiring[tracking] = None
        return list(expiring)

    def expire_orphans(
        self,
        watermark_ts: int,
        shipped: Container[str] | None = None,
        expiring: list[str] | None = None,
    ) -> None:
        """Drop waiting events and pickup scans that can no longer join (SPEC §7), counting them.

        Expired scans are orphans when no order was shipped under their waybill: one held
        here, or, for a book without the orders (a waybill stage), one in ``shipped``.
        ``expiring``: :meth:`expiring_scans` at ``watermark_ts``, when the caller has it.
        """
        horizon = watermark_ts - self.retention_ms
        self.orphans_dropped += drop_waiting(self.orphans, horizon)
        scan_horizon = horizon - self.retention_ms
        expired = self.expiring_scans(watermark_ts) if expiring is None else expiring
        shipped_under = self.by_tracking if shipped is None else shipped
        for tracking in expired:
            scans = self.scans.pop(tracking)
            if self.count_scan_orphans and tracking not in shipped_under:
                self.orphans_dropped += scan_count(scans)
        # A day before the one of the horizon is all expired now, or filed again later.
        for day in [d for d in self.scan_days if d < scan_horizon // DAY_MS]:
            del self.scan_days[day]
        if self.released_waybills is not None:
            self.released_waybills += expired
        if self.updates:
            # Updates are not orphans (decisions.md #4): dropped silently, on the same bound.
            stale = [k for k, v in self.updates.items() if latest(v) < scan_horizon]
            for tracking in stale:
                del self.updates[tracking]
            if self.released_waybills is not None:
                self.released_waybills += stale

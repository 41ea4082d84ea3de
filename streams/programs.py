"""Programs and memberships (SPEC §3) and force-majeure exemptions (SPEC §2.1).

- ``Plan``: same-day-ship plan membership per shop, kept as half-open counting intervals
  ``[open, close)`` so that membership is judged at each order's ``paid_ts``.
- ``Subsidy``: official-subsidy activity membership per item; a delist verdict is an exit.
- ``Exemptions``: force-majeure reports per shop, matched against orders and items.

Events arrive in event-time order, so each structure is a small state machine.
"""

from __future__ import annotations

from sellerwatch.schemas.events import Enrollment, Exemption, Subsidy
from sellerwatch.streams.calendar import Calendar
from sellerwatch.streams.orders import Order

_NONE, _ACTIVE, _SUSPENDED = 0, 1, 2


class ShopPlan:
    """One shop's plan state and counting intervals (``close = None``: still open)."""

    __slots__ = ("state", "intervals", "opened_ts")

    def __init__(self) -> None:
        """A shop that never joined."""
        self.state = _NONE
        self.intervals: list[list[int | None]] = []
        #: Opening of the latest interval, kept apart: old intervals are forgotten.
        self.opened_ts = 0


class Plan:
    """Same-day-ship plan memberships (SPEC §3)."""

    def __init__(self, calendar: Calendar, enrollment_delay_days: int) -> None:
        """Memberships judged in ``calendar``'s local days."""
        self.calendar = calendar
        self.delay_days = enrollment_delay_days
        self.shops: dict[str, ShopPlan] = {}

    def apply(self, event: Enrollment) -> None:
        """Advance the shop's state machine; actions that make no sense are ignored."""
        shop = self.shops.get(event.shop_id)
        if shop is None:
            shop = self.shops[event.shop_id] = ShopPlan()
        action, ts = event.action, event.ts
        if action == "join" and shop.state == _NONE:
            day = self.calendar.day_of(ts)
            shop.opened_ts = self.calendar.start_of(day + self.delay_days)
            shop.intervals.append([shop.opened_ts, None])
            shop.state = _ACTIVE
        elif action in ("cancel", "suspend") and shop.state == _ACTIVE:
            if shop.intervals:
                shop.intervals[-1][1] = ts
            shop.state = _NONE if action == "cancel" else _SUSPENDED
        elif action == "cancel" and shop.state == _SUSPENDED:
            shop.state = _NONE
        elif action == "resume" and shop.state == _SUSPENDED:
            reopen = self.calendar.start_of(self.calendar.day_of(ts))
            shop.opened_ts = max(reopen, shop.opened_ts)
            shop.intervals.append([shop.opened_ts, None])
            shop.state = _ACTIVE

    def counts(self, shop_id: str, paid_ts: int) -> bool:
        """Whether an order of ``shop_id`` paid at ``paid_ts`` counts for the plan."""
        shop = self.shops.get(shop_id)
        if shop is None:
            return False
        for start, end in shop.intervals:
            if start <= paid_ts and (end is None or paid_ts < end):  # type: ignore[operator]
                return True
        return False

    def forget_before(self, ts: int) -> None:
        """Drop intervals closed before ``ts``: no order that old is still evaluated."""
        for shop in self.shops.values():
            shop.intervals = [iv for iv in shop.intervals if iv[1] is None or iv[1] > ts]


class ItemMembership:
    """One item's subsidy-activity state."""

    __slots__ = ("active", "left_ts")

    def __init__(self) -> None:
        """Never joined."""
        self.active = False
        self.left_ts: int | None = None


class Subsidies:
    """Official-subsidy activity memberships (SPEC §3); ``items`` holds every item with history."""

    def __init__(self) -> None:
        """No item has subsidy history yet."""
        self.items: dict[str, ItemMembership] = {}

    def apply(self, event: Subsidy) -> None:
        """``join`` while in and ``exit`` while out do nothing (SPEC §7)."""
        item = self.items.get(event.item_id)
        if item is None:
            item = self.items[event.item_id] = ItemMembership()
        if event.action == "join":
            item.active = True
        elif item.active:
            item.active = False
            item.left_ts = event.ts

    def delist(self, item_id: str, decided_at: int) -> None:
        """A delist verdict is the item's exit at ``decided_at``."""
        item = self.items.get(item_id)
        if item is not None and item.active:
            item.active = False
            item.left_ts = decided_at

    def active(self, item_id: str) -> bool:
        """In the activity now (every event before the current instant applied)."""
        item = self.items.get(item_id)
        return item is not None and item.active

    def in_scope(self, item_id: str, at_ts: int, after_exit_ms: int) -> bool:
        """In the activity, or left it at most ``after_exit_ms`` before ``at_ts``."""
        item = self.items.get(item_id)
        if item is None:
            return False
        if item.active:
            return True
        return item.left_ts is not None and at_ts - item.left_ts <= after_exit_ms


class Exemptions:
    """Force-majeure reports by shop (SPEC §2.1, §4.3)."""

    def __init__(self, report_within_ms: int) -> None:
        """Reports count for an order only when filed within ``report_within_ms`` of payment."""
        self.report_within_ms = report_within_ms
        self.by_shop: dict[str, list[Exemption]] = {}

    def apply(self, event: Exemption) -> None:
        """Record a report."""
        self.by_shop.setdefault(event.shop_id, []).append(event)

    def exempts(self, order: Order) -> bool:
        """Whether a report of the order's shop matches it, in time, overlapping its window."""
        reports = self.by_shop.get(order.shop_id)
        if not reports:
            return False
        paid = order.paid_ts
        limit = paid + self.report_within_ms
        for report in reports:
            if report.ts > limit or report.start_ts > limit or report.end_ts <= paid:
                continue
            scope = report.scope
            if (
                scope == "shop"
                or (scope == "item" and report.item_id == order.item_id)
                or (
                    scope == "region" and order.region is not None and report.region == order.region
                )
            ):
                return True
        return False

    def active_for_item(self, shop_id: str, item_id: str, at_ts: int) -> bool:
        """A shop- or item-scope report of the shop, filed before ``at_ts`` and valid at it."""
        for report in self.by_shop.get(shop_id, ()):
            if (
                report.ts < at_ts
                and report.start_ts <= at_ts < report.end_ts
                and (
                    report.scope == "shop" or (report.scope == "item" and report.item_id == item_id)
                )
            ):
                return True
        return False

    def any_active(self, at_ts: int) -> bool:
        """Whether any shop- or item-scope report filed before ``at_ts`` is valid at it."""
        return any(
            report.ts < at_ts
            and report.start_ts <= at_ts < report.end_ts
            and report.scope != "region"
            for reports in self.by_shop.values()
            for report in reports
        )

    def forget_before(self, ts: int) -> None:
        """Drop reports filed and ended before ``ts``."""
        for shop_id in list(self.by_shop):
            kept = [r for r in self.by_shop[shop_id] if r.ts >= ts or r.end_ts >= ts]
            if kept:
                self.by_shop[shop_id] = kept
            else:
                del self.by_shop[shop_id]

"""§4.6 ``campaign_fulfilment``: a campaign's logistics promise (seed 003), per order.

A campaign order (its channel, ``paid_from <= paid_ts < paid_before``) is kept iff it shipped
within ``ship_within`` and was picked up within ``pickup_within`` of payment, and its waybill
showed a transit/delivered update within ``update_within`` of the pickup. It is judged once,
in two steps, each at the first ``E_T`` after its deadline:

1. ``E_T > paid_ts + max(ship_within, pickup_within)``: ship check, then pickup check;
2. the first ``E_T`` not before step 1's and ``> pickup_ts + update_within``: update check.

An order not timeliness-eligible at a step's ``E_T`` is not judged there (a step-1 breach
stands). Orders wait in a calendar of local days, so a day's evaluation touches only the
orders due that day.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from sellerwatch.schemas.verdict import CampaignEvaluation, Verdict, verdict_id
from sellerwatch.streams.calendar import Calendar
from sellerwatch.streams.campaigns import Campaign
from sellerwatch.streams.orders import CampaignOrder, Order
from sellerwatch.streams.rules.steps import Partition, Steps
from sellerwatch.streams.state import State

RULE: Final[Literal["campaign_fulfilment"]] = "campaign_fulfilment"
KIND: Final[Literal["breach"]] = "breach"
NOT_SHIPPED = "not_shipped_in_time"
NO_PICKUP = "no_pickup_in_time"
NO_UPDATE = "no_update_in_time"
_NO_EXCLUSIONS: frozenset[str] = frozenset()


def is_campaign_order(campaign: Campaign, channel: str, paid_ts: int) -> bool:
    """SPEC §4.6 "campaign order"."""
    return (
        channel == campaign.channel and campaign.paid_from_ms <= paid_ts < campaign.paid_before_ms
    )


def span_days(campaigns: tuple[Campaign, ...]) -> int:
    """Local days after its paid day by which every order of these campaigns is judged.

    The engine keeps orders in the book at least this long, so that a campaign with long
    limits still sees every shipment, scan and refund of its orders.
    """
    longest = max(
        (max(c.ship_within_ms, c.pickup_within_ms) + c.update_within_ms for c in campaigns),
        default=0,
    )
    return longest // 86_400_000 + 3


class CampaignState:
    """Campaign orders waiting for a step: local day -> [(order, campaign index, step)]."""

    def __init__(self) -> None:
        """Nothing due."""
        self.due: dict[int, list[tuple[CampaignOrder, int, int]]] = {}

    def add(self, state: State, order: Order, channel: str) -> None:
        """File a new order under the step-1 day of every campaign it belongs to."""
        if type(order) is not CampaignOrder:
            return
        calendar = state.calendar
        for index, campaign in enumerate(state.policy.campaigns):
            if is_campaign_order(campaign, channel, order.paid_ts):
                day = calendar.day_of(order.paid_ts + _step1_within(campaign)) + 1
                self.due.setdefault(day, []).append((order, index, 1))


def _step1_within(campaign: Campaign) -> int:
    return max(campaign.ship_within_ms, campaign.pickup_within_ms)


def evaluate(state: State, campaigns: CampaignState, day: int, decided_at: int) -> list[Verdict]:
    """Judge the orders due at ``E_day``; returns their breaches in SPEC §4.5 order."""
    due = campaigns.due.pop(day, None)
    if not due:
        return []
    settings = state.policy.campaigns
    calendar = state.calendar
    verdicts: list[Verdict] = []
    # (campaign index, shop) -> [judged, kept, {reason: breaches}]
    figures: dict[tuple[int, str], list[Any]] = {}
    for order, index, step in due:
        campaign = settings[index]
        if not state.timeliness_eligible(order, _NO_EXCLUSIONS, decided_at):
            continue  # not judged at this step; nothing was decided for it yet
        paid_ts, ship_ts, pickup_ts = order.paid_ts, order.ship_ts, order.pickup_ts
        reason: str | None = None
        if step == 1:
            deadline = paid_ts + _step1_within(campaign)
            if ship_ts is None or ship_ts - paid_ts > campaign.ship_within_ms:
                reason = NOT_SHIPPED
            elif pickup_ts is None or pickup_ts - paid_ts > campaign.pickup_within_ms:
                reason = NO_PICKUP
            else:
                deadline = pickup_ts + campaign.update_within_ms
                step2_day = max(day, calendar.day_of(deadline) + 1)
                if step2_day > day:
                    campaigns.due.setdefault(step2_day, []).append((order, index, 2))
                    continue
                step = 2
        if step == 2:
            assert pickup_ts is not None  # noqa: S101 - step 2 follows a pickup in time
            deadline = pickup_ts + campaign.update_within_ms
            update_ts = order.update_ts
            if update_ts is None or update_ts - pickup_ts > campaign.update_within_ms:
                reason = NO_UPDATE
        if state.collect_evaluations:
            counts = figures.setdefault((index, order.shop_id), [0, 0, {}])
            counts[0] += 1
            counts[1] += reason is None
            if reason is not None:
                counts[2][reason] = counts[2].get(reason, 0) + 1
        if reason is not None:
            breach = _breach(state, calendar, campaign, order, decided_at, deadline, reason)
            verdicts.append(breach)
            if state.collect_evidence:
                facts = {
                    "reason": reason,
                    "deadline": deadline,
                    "step": step,
                    "ship_within_ms": campaign.ship_within_ms,
                    "pickup_within_ms": campaign.pickup_within_ms,
                    "update_within_ms": campaign.update_within_ms,
                }
                if step == 2:
                    facts["update_ts"] = order.update_ts
                state.evidenced(breach, [order], [], facts)
    if figures:
        for (index, shop_id), (judged, kept, breached) in sorted(
            figures.items(), key=lambda kv: (kv[0][1], settings[kv[0][0]].name)
        ):
            kind: Literal["breach"] | None = KIND if kept < judged else None
            state.evaluations.append(
                CampaignEvaluation(
                    RULE,
                    shop_id,
                    settings[index].name,
                    decided_at,
                    kept,
                    judged,
                    kind,
                    breached=dict(sorted(breached.items())),
                )
            )
    verdicts.sort(key=lambda v: (v.details["order_id"], v.kind, v.period))
    return verdicts


def _breach(
    state: State,
    calendar: Calendar,
    campaign: Campaign,
    order: Order,
    decided_at: int,
    deadline: int,
    reason: str,
) -> Verdict:
    """The §4.5/§4.6 breach record of one order."""
    return Verdict(
        verdict_id=verdict_id(RULE, KIND, order.order_id, campaign.name),
        kind="breach",
        rule="campaign_fulfilment",
        shop_id=order.shop_id,
        item_id=order.item_id,
        period=campaign.name,
        decided_at=decided_at,
        window_start=calendar.iso(calendar.day_of(campaign.paid_from_ms)),
        window_end=calendar.iso(calendar.day_of(campaign.paid_before_ms - 1)),
        numerator=0,
        denominator=1,
        rate=0.0,
        threshold=1.0,
        amount_cents=campaign.fine_cents,
        policy=state.policy.name,
        details={
            "order_id": order.order_id,
            "paid_ts": order.paid_ts,
            "deadline": deadline,
            "reason": reason,
        },
    )


def _decide(partition: Partition, day: int, decided_at: int, totals: None) -> list[Verdict]:
    return evaluate(partition.state, partition.campaigns, day, decided_at)


#: Per order: decided in the order's partition alone.
STEPS = Steps(RULE, decide=_decide)

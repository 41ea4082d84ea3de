"""Input event records (SPEC §2), decoded and validated in one pass by msgspec.

Each record is a frozen, slotted ``msgspec.Struct`` tagged by ``type``. Field names, types,
enums and ranges are exactly SPEC §2 and §7: integers must be JSON integers, ``null`` on an
optional field means absent, unknown extra fields are ignored.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

TS_MIN = 946_684_800_000
TS_MAX_EXCLUSIVE = 4_102_444_800_000

EventId = Annotated[str, Meta(min_length=1, max_length=128)]
EventTs = Annotated[int, Meta(ge=TS_MIN, lt=TS_MAX_EXCLUSIVE)]
Cents = Annotated[int, Meta(ge=0)]

Channel = Literal["taote", "taobao", "tmall"]
ScanKind = Literal["pickup", "transit", "delivered"]
RefundReason = Literal["quality", "other"]
ExemptionScope = Literal["shop", "item", "region"]
EnrollmentAction = Literal["join", "cancel", "suspend", "resume"]
SubsidyAction = Literal["join", "exit"]


class BaseEvent(Struct, frozen=True, tag_field="type"):
    """Fields every event has: ``event_id`` and ``ts`` (epoch ms, UTC)."""

    event_id: EventId
    ts: EventTs


class Payment(BaseEvent, frozen=True, tag="payment"):
    """A paid sub-order (one order line, one item); key ``order_id``."""

    order_id: str
    shop_id: str
    item_id: str
    category_id: str
    channel: Channel
    amount_cents: Cents
    region: str | None = None


class Shipment(BaseEvent, frozen=True, tag="shipment"):
    """The seller marked the order shipped under waybill ``tracking_no``; key ``order_id``."""

    order_id: str
    carrier: str
    tracking_no: str
    official_logistics: bool | None = None
    needs_logistics: bool | None = None


class PickupScan(BaseEvent, frozen=True, tag="pickup_scan"):
    """A carrier scan of a waybill (only ``pickup`` counts); key ``tracking_no``."""

    tracking_no: str
    carrier: str
    scan: ScanKind


class Refund(BaseEvent, frozen=True, tag="refund"):
    """A completed refund of the order line at ``ts``; key ``order_id``."""

    order_id: str
    refund_id: str
    reason: RefundReason


class Exemption(BaseEvent, frozen=True, tag="exemption"):
    """A force-majeure report filed at ``ts``, valid ``[start_ts, end_ts)``; key ``shop_id``."""

    exemption_id: str
    scope: ExemptionScope
    shop_id: str
    start_ts: int
    end_ts: int
    item_id: str | None = None
    region: str | None = None


class Enrollment(BaseEvent, frozen=True, tag="enrollment"):
    """Same-day-ship plan membership change of a shop; key ``shop_id``."""

    shop_id: str
    action: EnrollmentAction


class Subsidy(BaseEvent, frozen=True, tag="subsidy"):
    """Official-subsidy activity membership change of an item; key ``item_id``."""

    shop_id: str
    item_id: str
    action: SubsidyAction


Event = Payment | Shipment | PickupScan | Refund | Exemption | Enrollment | Subsidy

EVENT_TYPES: tuple[type[BaseEvent], ...] = (
    Payment,
    Shipment,
    PickupScan,
    Refund,
    Exemption,
    Enrollment,
    Subsidy,
)

#: Default Kafka topic of each event type (SPEC §2).
TOPIC_OF_TYPE: dict[str, str] = {
    "payment": "payments",
    "shipment": "shipments",
    "pickup_scan": "pickup-scans",
    "refund": "refunds",
    "exemption": "seller-programs",
    "enrollment": "seller-programs",
    "subsidy": "seller-programs",
}


def kafka_key(event: Event) -> str:
    """The Kafka record key of an event (SPEC §2 table)."""
    if isinstance(event, Payment | Shipment | Refund):
        return event.order_id
    if isinstance(event, PickupScan):
        return event.tracking_no
    if isinstance(event, Subsidy):
        return event.item_id
    return event.shop_id

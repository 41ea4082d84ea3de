"""The evidence record behind one verdict (``--evidence``, the live ``evidence`` topic).

A seller appealing a fine, or an analyst checking a delist, asks which orders a verdict
counted. One record answers that alone: the verdict it explains (``verdict``), the order ids
in its denominator and in its numerator, and each order's lifecycle facts as the engine saw
them at ``decided_at``. ``len(denominator_orders) == verdict.denominator`` and
``len(numerator_orders) == verdict.numerator`` always hold (a test recomputes them).
"""

from __future__ import annotations

from typing import Any

import msgspec

from sellerwatch.schemas.verdict import Verdict


class OrderFacts(msgspec.Struct, frozen=True):
    """One counted order's instants (epoch ms, ``None`` = not seen by ``decided_at``)."""

    order_id: str
    paid_ts: int
    ship_ts: int | None
    pickup_ts: int | None
    refund_ts: int | None
    tracking_no: str | None
    #: in the verdict's numerator (kept the promise, shipped in time, refunded for quality…)
    counted: bool


class Evidence(msgspec.Struct, frozen=True):
    """The orders behind ``verdict``; ``zone`` is the policy's, for printing local times."""

    verdict_id: str
    verdict: Verdict
    zone: str
    denominator_orders: list[str]
    numerator_orders: list[str]
    orders: list[OrderFacts]
    #: rule-specific figures: ``packages`` (same_day_ship's distinct waybills), the
    #: category's counts (quality_refund), the breach reason and deadline (campaigns)
    details: dict[str, Any] = msgspec.field(default_factory=dict)
    #: a record too large for one Kafka message is sent in ``parts`` parts, each with a slice
    #: of the orders (:func:`split`); :func:`join` puts them back together
    part: int = 1
    parts: int = 1


_decoder = msgspec.json.Decoder(Evidence)
_encoder = msgspec.json.Encoder()


def split(evidence: Evidence, max_bytes: int) -> list[Evidence]:
    """``evidence`` in parts whose JSON is at most about ``max_bytes`` each, by slices of its
    orders (the verdict and details repeat in every part). One part when it fits."""
    if len(_encoder.encode(evidence)) <= max_bytes or len(evidence.orders) <= 1:
        return [evidence]
    size = len(evidence.orders)
    while True:
        size = max(1, size // 2)
        slices = [evidence.orders[i : i + size] for i in range(0, len(evidence.orders), size)]
        parts = [
            msgspec.structs.replace(
                evidence,
                denominator_orders=[o.order_id for o in orders],
                numerator_orders=[o.order_id for o in orders if o.counted],
                orders=orders,
                part=index,
                parts=len(slices),
            )
            for index, orders in enumerate(slices, 1)
        ]
        if size == 1 or all(len(_encoder.encode(p)) <= max_bytes for p in parts):
            return parts


def join(parts: list[Evidence]) -> Evidence:
    """The record :func:`split` cut into ``parts`` (any order); raises ``ValueError`` when
    some are missing or they belong to different verdicts."""
    ordered = sorted(parts, key=lambda p: p.part)
    first = ordered[0]
    if [p.part for p in ordered] != list(range(1, first.parts + 1)) or any(
        p.verdict != first.verdict or p.parts != first.parts for p in ordered
    ):
        raise ValueError(f"evidence of {first.verdict_id}: parts missing or mixed")
    if first.parts == 1:
        return first
    return msgspec.structs.replace(
        first,
        denominator_orders=[i for p in ordered for i in p.denominator_orders],
        numerator_orders=[i for p in ordered for i in p.numerator_orders],
        orders=[o for p in ordered for o in p.orders],
        part=1,
        parts=1,
    )


def decode_evidence(raw: bytes) -> Evidence:
    """Parse one evidence line written by :func:`schemas.verdict.encode`."""
    return _decoder.decode(raw)

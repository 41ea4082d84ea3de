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

from schemas.verdict import Verdict


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


_decoder = msgspec.json.Decoder(Evidence)


def decode_evidence(raw: bytes) -> Evidence:
    """Parse one evidence line written by :func:`schemas.verdict.encode`."""
    return _decoder.decode(raw)

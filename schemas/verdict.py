"""The verdict record (SPEC §4.5) and the evaluation-figures record behind ``--metrics``.

Field order is the SPEC's, and msgspec encodes in declaration order, so a verdict's JSON is
byte-stable across runs and drivers.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Kind = Literal["tag", "untag", "delist", "watch", "fine", "incentive", "breach"]
Rule = Literal[
    "same_day_ship", "ship48_pickup24", "pickup48", "quality_refund", "campaign_fulfilment"
]

#: Verdict topic of each kind (SPEC §4.5), before any topic prefix.
TOPIC_OF_KIND: dict[str, str] = {
    "tag": "verdicts.tag",
    "untag": "verdicts.tag",
    "delist": "verdicts.delist",
    "fine": "verdicts.fine",
    "watch": "verdicts.watch",
    "incentive": "verdicts.incentive",
    "breach": "verdicts.breach",
}

#: The rule whose verdicts are about one order (SPEC §4.6): its subject is the order id.
ORDER_RULE = "campaign_fulfilment"


class Verdict(msgspec.Struct, frozen=True):
    """One decision about a shop or an item; ``verdict_id`` makes it idempotent."""

    verdict_id: str
    kind: Kind
    rule: Rule
    shop_id: str
    item_id: str | None
    period: str
    decided_at: int
    window_start: str
    window_end: str
    numerator: int
    denominator: int
    rate: float
    threshold: float
    amount_cents: int
    policy: str
    details: dict[str, Any]

    @property
    def subject(self) -> str:
        """The id the verdict is about: the order (campaigns), the item, or the shop."""
        if self.rule == ORDER_RULE:
            return str(self.details["order_id"])
        return self.item_id if self.item_id is not None else self.shop_id

    @property
    def topic(self) -> str:
        """Default verdict topic of this verdict's kind."""
        return TOPIC_OF_KIND[self.kind]


class Evaluation(msgspec.Struct, frozen=True):
    """The figures of one evaluation, also when no verdict results (dashboards, backtests)."""

    rule: Rule
    subject: str
    period: str
    decided_at: int
    numerator: int
    denominator: int
    verdict: Kind | None = None


class CampaignEvaluation(Evaluation, frozen=True):
    """A campaign's figures for one shop at one instant (SPEC §4.6): ``numerator`` orders kept
    of ``denominator`` judged, and the breaches by reason."""

    breached: dict[str, int] = msgspec.field(default_factory=dict)


def verdict_id(rule: str, kind: str, subject: str, period: str) -> str:
    """``{rule}:{kind}:{subject}:{period}``, deterministic (SPEC §4.5)."""
    return f"{rule}:{kind}:{subject}:{period}"


_encoder = msgspec.json.Encoder()
_verdict_decoder = msgspec.json.Decoder(Verdict)


def encode(record: msgspec.Struct) -> bytes:
    """JSON bytes of a verdict or evaluation, fields in SPEC order."""
    return _encoder.encode(record)


def decode_verdict(raw: bytes) -> Verdict:
    """Parse a verdict written by :func:`encode` (consumers, tests)."""
    return _verdict_decoder.decode(raw)


def decode_evaluation(raw: bytes) -> Evaluation:
    """Parse figures written by :func:`encode`: a campaign's (with ``breached``) or a rule's."""
    fields = msgspec.json.decode(raw)
    kind = CampaignEvaluation if "breached" in fields else Evaluation
    return msgspec.convert(fields, kind)

"""Event and verdict records, validation, and the published JSON Schema."""

from sellerwatch.schemas.events import (
    EVENT_TYPES,
    TOPIC_OF_TYPE,
    BaseEvent,
    Enrollment,
    Event,
    Exemption,
    Payment,
    PickupScan,
    Refund,
    Shipment,
    Subsidy,
    kafka_key,
)
from sellerwatch.schemas.evidence import Evidence, OrderFacts, decode_evidence
from sellerwatch.schemas.validation import Rejected, decode_event
from sellerwatch.schemas.verdict import (
    TOPIC_OF_KIND,
    Evaluation,
    Verdict,
    decode_verdict,
    encode,
    verdict_id,
)

__all__ = [
    "EVENT_TYPES",
    "TOPIC_OF_KIND",
    "TOPIC_OF_TYPE",
    "BaseEvent",
    "Enrollment",
    "Evaluation",
    "Event",
    "Evidence",
    "Exemption",
    "OrderFacts",
    "Payment",
    "PickupScan",
    "Refund",
    "Rejected",
    "Shipment",
    "Subsidy",
    "Verdict",
    "decode_event",
    "decode_evidence",
    "decode_verdict",
    "encode",
    "kafka_key",
    "verdict_id",
]

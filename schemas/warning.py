"""The early-warning record (``--warnings``, the live ``sellerwatch.warnings`` topic).

What eBay's "projected level" tells a seller before the evaluation: at ``warned_at`` (an
evaluation instant), a subject whose window of a later evaluation is still open, and whose
figures, if nothing else arrived, would give the verdict ``kind`` at ``due_at``. A warning
never changes a verdict: it is the rule's own judgement of the state at ``warned_at``, kept.
"""

from __future__ import annotations

import msgspec

from sellerwatch.schemas.verdict import Kind, Rule


class EarlyWarning(msgspec.Struct, frozen=True):
    """One subject that would get ``kind`` at ``due_at`` if nothing else arrived."""

    rule: Rule
    kind: Kind
    subject: str
    shop_id: str
    item_id: str | None
    warned_at: int
    due_at: int
    #: the period of the verdict it foresees (``YYYY-MM-DD`` of day T)
    period: str
    window_start: str
    window_end: str
    numerator: int
    denominator: int
    rate: float
    threshold: float
    policy: str
    #: ``quality_refund``: the category's projected counts and the strikes foreseen
    details: dict[str, int | str] = msgspec.field(default_factory=dict)

    @property
    def verdict_id(self) -> str:
        """The id of the verdict it foresees."""
        return f"{self.rule}:{self.kind}:{self.subject}:{self.period}"

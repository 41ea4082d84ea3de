"""Where every input record ended (SPEC §5): applied, duplicate, late or rejected.

Nothing is lost: ``records_in = applied + duplicate + late + rejected`` holds after every
record, and the drivers print and publish these figures (``--metrics``, ``/stats/``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    """Where one input record ended (SPEC §5)."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    LATE = "late"
    REJECTED = "rejected"


@dataclass
class Accounting:
    """``records_in = applied + duplicate + late + rejected``, at all times."""

    records_in: int = 0
    applied: int = 0
    duplicate: int = 0
    late: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    def balanced(self) -> bool:
        """The SPEC §5 identity."""
        return self.records_in == self.applied + self.duplicate + self.late + self.rejected

    def as_dict(self) -> dict[str, Any]:
        """Plain figures for summaries and metrics."""
        return {
            "in": self.records_in,
            "applied": self.applied,
            "duplicate": self.duplicate,
            "late": self.late,
            "rejected": self.rejected,
            "rejected_by_reason": dict(sorted(self.rejected_by_reason.items())),
        }

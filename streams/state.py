"""The engine's state, shared by the rules: one place that owns every stateful part."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sellerwatch.schemas.evidence import Evidence, OrderFacts
from sellerwatch.schemas.verdict import Evaluation, Verdict, verdict_id
from sellerwatch.schemas.warning import EarlyWarning
from sellerwatch.streams.calendar import Calendar
from sellerwatch.streams.orders import Order, OrderBook
from sellerwatch.streams.policy import Policy
from sellerwatch.streams.programs import Exemptions, Plan, Subsidies
from sellerwatch.streams.rates import ratio


@dataclass
class State:
    """Everything the rules read: orders, memberships, exemptions, and the evaluation outputs."""

    policy: Policy
    calendar: Calendar
    book: OrderBook
    plan: Plan
    subsidies: Subsidies
    exemptions: Exemptions
    collect_evaluations: bool = False
    evaluations: list[Evaluation] = field(default_factory=list)
    collect_evidence: bool = False
    evidence: list[Evidence] = field(default_factory=list)
    collect_warnings: bool = False
    warnings: list[EarlyWarning] = field(default_factory=list)

    @classmethod
    def new(
        cls,
        policy: Policy,
        collect_evaluations: bool = False,
        collect_evidence: bool = False,
        collect_warnings: bool = False,
    ) -> State:
        """Fresh state for a policy."""
        calendar = policy.calendar()
        return cls(
            policy=policy,
            calendar=calendar,
            book=OrderBook(
                policy.orphan_retention_ms,
                policy.quality_refund.refund_within_ms,
                policy.campaigns,
            ),
            plan=Plan(calendar, policy.same_day_ship.enrollment_delay_days),
            subsidies=Subsidies(),
            exemptions=Exemptions(policy.exemption_report_within_ms),
            collect_evaluations=collect_evaluations,
            collect_evidence=collect_evidence,
            collect_warnings=collect_warnings,
        )

    def evaluated(
        self,
        rule: str,
        subject: str,
        period: str,
        decided_at: int,
        n: int,
        d: int,
        kind: str | None,
    ) -> None:
        """Record one evaluation's figures when the driver asked for them."""
        self.evaluations.append(Evaluation(rule, subject, period, decided_at, n, d, kind))  # type: ignore[arg-type]

    def evidenced(
        self,
        verdict: Verdict,
        denominator: list[Order],
        numerator: list[Order],
        details: dict[str, Any] | None = None,
    ) -> None:
        """Keep the orders behind ``verdict`` when the driver asked for evidence.

        ``numerator`` is a sub-list of ``denominator``; both are listed by ``(paid_ts,
        order_id)``, so the record is the same whichever partition counted which order.
        """
        in_numerator = {id(order) for order in numerator}
        ordered = sorted(denominator, key=lambda order: (order.paid_ts, order.order_id))
        self.evidence.append(
            Evidence(
                verdict_id=verdict.verdict_id,
                verdict=verdict,
                zone=self.calendar.tz_name,
                denominator_orders=[order.order_id for order in ordered],
                numerator_orders=[o.order_id for o in ordered if id(o) in in_numerator],
                orders=[
                    OrderFacts(
                        order_id=order.order_id,
                        paid_ts=order.paid_ts,
                        ship_ts=order.ship_ts,
                        pickup_ts=order.pickup_ts,
                        refund_ts=order.refund_ts,
                        tracking_no=order.tracking_no,
                        counted=id(order) in in_numerator,
                    )
                    for order in ordered
                ],
                details=details or {},
            )
        )

    def warned(
        self,
        *,
        rule: str,
        kind: str,
        shop_id: str,
        item_id: str,
        warned_at: int,
        day: int,
        window: tuple[int, int],
        n: int,
        d: int,
        threshold: float,
        details: dict[str, int | str] | None = None,
    ) -> None:
        """Keep an early warning: ``kind`` foreseen at ``E_day`` if nothing else arrives."""
        self.warnings.append(
            EarlyWarning(
                rule=rule,  # type: ignore[arg-type]
                kind=kind,  # type: ignore[arg-type]
                subject=item_id,
                shop_id=shop_id,
                item_id=item_id,
                warned_at=warned_at,
                due_at=self.calendar.start_of(day),
                period=self.calendar.iso(day),
                window_start=self.calendar.iso(window[0]),
                window_end=self.calendar.iso(window[1]),
                numerator=n,
                denominator=d,
                rate=ratio(n, d),
                threshold=threshold,
                policy=self.policy.name,
                details=details or {},
            )
        )

    def verdict(
        self,
        *,
        rule: str,
        kind: str,
        shop_id: str,
        item_id: str | None,
        day: int,
        decided_at: int,
        window: tuple[int, int],
        n: int,
        d: int,
        threshold: float,
        amount_cents: int = 0,
        details: dict[str, Any] | None = None,
    ) -> Verdict:
        """Build a verdict with its deterministic id (SPEC §4.5)."""
        period = self.calendar.iso(day)
        subject = item_id if item_id is not None else shop_id
        return Verdict(
            verdict_id=verdict_id(rule, kind, subject, period),
            kind=kind,  # type: ignore[arg-type]
            rule=rule,  # type: ignore[arg-type]
            shop_id=shop_id,
            item_id=item_id,
            period=period,
            decided_at=decided_at,
            window_start=self.calendar.iso(window[0]),
            window_end=self.calendar.iso(window[1]),
            numerator=n,
            denominator=d,
            rate=ratio(n, d),
            threshold=threshold,
            amount_cents=amount_cents,
            policy=self.policy.name,
            details=details or {},
        )

    def timeliness_eligible(self, order: Order, excluded: frozenset[str], at_ts: int) -> bool:
        """SPEC §2.1 at evaluation instant ``at_ts``: not refunded before shipment, not exempt,
        needs a parcel, category not excluded.

        Exemption is final once no report can still be filed in time, so it is cached then.
        """
        if order.refunded_before_shipment():
            return False
        if order.ship_ts is not None and not order.needs_logistics:
            return False
        if excluded and order.category_id in excluded:
            return False
        exempt = order.exempt
        if exempt is None:
            exempt = self.exemptions.exempts(order)
            if at_ts > order.paid_ts + self.exemptions.report_within_ms:
                order.exempt = exempt
        return not exempt

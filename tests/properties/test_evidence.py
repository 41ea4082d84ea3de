"""Evidence: every verdict's orders, checked against the independent reference.

The reference (``tests/reference/naive.py``) recomputes every evaluation from scratch and
keeps the order ids it counted; the engine's evidence must name exactly those orders, for one
engine and for a partitioned one, and must add up to the verdict's own figures. Streams are
the differential tests' generated ones (faults, exemptions, shared waybills, campaigns).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given, settings

from sellerwatch.schemas.evidence import Evidence
from sellerwatch.schemas.validation import Rejected
from sellerwatch.schemas.verdict import Verdict
from sellerwatch.streams.engine import Engine
from sellerwatch.streams.partitioned import PartitionedEngine
from sellerwatch.streams.policy import Policy
from tests.properties.test_differential import (
    SETTINGS,
    _edge_scenarios,
    _incentive_stream,
    streams,
)
from tests.reference.naive import run_reference


def verdicts_and_evidence(engine: Engine, records: list[Any]) -> list[tuple[Verdict, Evidence]]:
    """Feed records in arrival order and pair every verdict with its evidence."""
    verdicts: list[Verdict] = []
    evidence: list[Evidence] = []
    for record in records:
        if isinstance(record, Rejected):
            engine.reject(record)
        else:
            engine.accept(record)
        verdicts += engine.take_verdicts()
        evidence += engine.take_evidence()
    engine.finish()
    verdicts += engine.take_verdicts()
    evidence += engine.take_evidence()
    assert [e.verdict_id for e in evidence] == [v.verdict_id for v in verdicts]
    return list(zip(verdicts, evidence, strict=True))


def assert_evidence_matches_reference(records: list[Any], policy: Policy | None = None) -> int:
    """Every verdict's evidence names the orders the reference counted; returns how many."""
    reference = run_reference(records).orders
    paired = verdicts_and_evidence(Engine(policy, collect_evidence=True), records)
    for verdict, record in paired:
        assert record.verdict == verdict
        assert len(record.denominator_orders) == verdict.denominator, verdict.verdict_id
        assert len(record.numerator_orders) == verdict.numerator, verdict.verdict_id
        assert Counter(record.numerator_orders) <= Counter(record.denominator_orders)
        assert [o.order_id for o in record.orders] == record.denominator_orders
        assert [o.order_id for o in record.orders if o.counted] == record.numerator_orders
        if verdict.rule == "campaign_fulfilment":
            assert record.denominator_orders == [verdict.details["order_id"]]
            continue
        expected = reference[verdict.rule, verdict.subject, verdict.period]
        assert (sorted(record.denominator_orders), sorted(record.numerator_orders)) == expected, (
            verdict.verdict_id
        )
    partitioned = PartitionedEngine(policy, partitions=1 + len(records) % 5, collect_evidence=True)
    assert verdicts_and_evidence(partitioned, records) == paired
    return len(paired)


@settings(SETTINGS, max_examples=150)
@given(streams())
def test_every_verdicts_evidence_names_the_orders_the_reference_counted(
    records: list[Any],
) -> None:
    assert_evidence_matches_reference(records)


def test_an_incentives_evidence_names_its_weeks_orders_and_packages() -> None:
    records = _incentive_stream(seed=3, n_orders=2400, on_time_pct=100, shared_pct=30)
    assert assert_evidence_matches_reference(records) >= 1
    paired = verdicts_and_evidence(Engine(collect_evidence=True), records)
    incentives = [(v, e) for v, e in paired if v.kind == "incentive"]
    assert incentives
    for verdict, record in incentives:
        packages = record.details["packages"]
        assert isinstance(packages, list)
        assert len(packages) == verdict.details["packages"]


def test_edge_scenarios_evidence_matches_reference() -> None:
    total = sum(assert_evidence_matches_reference(r) for r in _edge_scenarios().values())
    assert total > 0


def test_no_evidence_is_kept_unless_asked() -> None:
    records = _incentive_stream(seed=3, n_orders=200, on_time_pct=95, shared_pct=10)
    engine = Engine()
    for record in records:
        engine.accept(record)
    engine.finish()
    assert engine.take_verdicts()
    assert engine.take_evidence() == []

"""The worked table of docs/time.md, row by row, so the doc cannot drift from the engine."""

from __future__ import annotations

from sellerwatch.streams.accounting import Outcome
from sellerwatch.streams.engine import Engine
from tests.builders import at, clock_tick, payment, pickup, refund, shipment, subsidy


def test_the_worked_table_of_docs_time_md() -> None:
    engine = Engine(collect_evaluations=True)
    # Row 0 (not in the doc): I1 joins the subsidy so that quality_refund reports its figures.
    engine.accept(subsidy("I1", "2021-07-05 16:50:00.000"))
    rows = [
        (payment("O1", "2021-07-05 16:59:59.999"), Outcome.APPLIED, "2021-07-05 16:54:59.999"),
        (payment("O2", "2021-07-05 17:00:00.000"), Outcome.APPLIED, "2021-07-05 16:55:00.000"),
        (shipment("O1", "2021-07-05 16:58:00.000"), Outcome.APPLIED, "2021-07-05 16:55:00.000"),
        (pickup("T-O1", "2021-07-05 17:10:00.000"), Outcome.APPLIED, "2021-07-05 17:05:00.000"),
        (refund("O2", "2021-07-05 17:04:59.999"), Outcome.LATE, "2021-07-05 17:05:00.000"),
        (clock_tick("2021-07-06 00:04:59.999"), Outcome.APPLIED, "2021-07-05 23:59:59.999"),
        (clock_tick("2021-07-06 00:05:00.000"), Outcome.APPLIED, "2021-07-06 00:00:00.000"),
        (clock_tick("2021-07-06 00:00:00.000"), Outcome.APPLIED, "2021-07-06 00:00:00.000"),
    ]
    periods = []
    for event, outcome, watermark in rows:
        assert engine.accept(event) is outcome
        assert engine.watermark == at(watermark)
        periods.append({e.period for e in engine.take_evaluations()})
    assert periods[:6] == [set()] * 6
    assert periods[6] == {"2021-07-06"}  # row 7: W reached E(07-06)

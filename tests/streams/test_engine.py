"""SPEC §1.1, §5, §7: classification of every record, the watermark, and outputs."""

from __future__ import annotations

from sellerwatch.streams.accounting import Outcome
from sellerwatch.streams.engine import Engine
from tests.builders import as_json, at, clock_tick, enroll, payment, shipment, subsidy


def test_checks_run_validation_duplicate_late_second_payment_applied() -> None:
    engine = Engine()
    first = payment("O1", "2021-07-05 10:00")
    assert engine.accept(first) is Outcome.APPLIED
    assert engine.accept(first) is Outcome.DUPLICATE
    again = payment("O1", "2021-07-05 10:01")
    assert engine.accept(again) is Outcome.REJECTED  # a second payment for a paid order
    engine.accept(clock_tick("2021-07-05 11:00"))
    old = payment("O2", "2021-07-05 10:54:59.999")  # W = 10:55, ts < W
    assert engine.accept(old) is Outcome.LATE
    assert engine.accept(old) is Outcome.DUPLICATE  # its id was remembered: it passed validation
    on_time = payment("O3", "2021-07-05 10:55:00.000")
    assert engine.accept(on_time) is Outcome.APPLIED
    a = engine.accounting
    assert (a.records_in, a.applied, a.duplicate, a.late, a.rejected) == (7, 3, 2, 1, 1)
    assert a.balanced()


def test_a_corrected_resend_of_a_rejected_record_is_accepted() -> None:
    engine = Engine()
    good = payment("O1", "2021-07-05 10:00")
    broken = as_json(good).replace(b'"taote"', b'"nope"')
    outcome, why = engine.accept_raw(broken)
    assert outcome is Outcome.REJECTED and why is not None and why.reason == "bad_enum"
    outcome, why = engine.accept_raw(as_json(good))
    assert outcome is Outcome.APPLIED and why is None


def test_only_applied_events_move_the_watermark() -> None:
    engine = Engine()
    engine.accept(payment("O1", "2021-07-05 10:00"))
    engine.accept(payment("O1", "2021-07-06 10:00"))  # rejected: must not move time
    assert engine.watermark == at("2021-07-05 09:55")


def test_evaluations_fire_once_the_watermark_passes_and_at_end_of_input_up_to_max_ts() -> None:
    engine = Engine()
    engine.accept(subsidy("I1", "2021-07-01 09:00"))
    engine.accept(payment("O1", "2021-07-02 10:00"))
    engine.accept(clock_tick("2021-07-06 00:04:59.999"))  # W = 07-05 23:59:59.999 < E_07-06
    assert engine.take_verdicts() == []
    engine.accept(clock_tick("2021-07-06 00:05:00"))  # W = E_07-06: the delist fires now
    assert [v.verdict_id for v in engine.take_verdicts()] == [
        "ship48_pickup24:delist:I1:2021-07-06"
    ]


def test_end_of_input_emits_evaluations_up_to_max_ts_seen_only() -> None:
    engine = Engine()
    engine.accept(subsidy("I1", "2021-07-01 09:00"))
    engine.accept(payment("O1", "2021-07-02 10:00"))
    engine.accept(clock_tick("2021-07-05 23:59:59.999"))
    engine.finish()
    assert engine.take_verdicts() == []
    engine = Engine()
    for e in (subsidy("I1", "2021-07-01 09:00"), payment("O1", "2021-07-02 10:00")):
        engine.accept(e)
    engine.accept(clock_tick("2021-07-06 00:00:00"))  # ts = E exactly
    engine.finish()
    assert len(engine.take_verdicts()) == 1


def test_an_event_at_exactly_E_is_not_part_of_the_evaluation_at_E() -> None:
    # Shipped at 07-06 00:00:00.000 = E of the first delist evaluation: not yet shipped then.
    events = [
        subsidy("I1", "2021-07-01 09:00"),
        payment("O1", "2021-07-02 10:00"),
        shipment("O1", "2021-07-04 10:00"),
        enroll("S9", "2021-07-06 00:00:00"),
    ]
    engine = Engine(collect_evaluations=True)
    for e in events:
        engine.accept(e)
    engine.finish()
    figures = [(e.rule, e.period, e.numerator, e.denominator) for e in engine.take_evaluations()]
    assert ("ship48_pickup24", "2021-07-06", 0, 1) in figures


def test_snapshot_and_restore_continue_to_the_same_verdicts() -> None:
    events = [
        subsidy("I1", "2021-07-01 09:00"),
        payment("O1", "2021-07-02 10:00"),
        payment("O2", "2021-07-03 10:00"),
        clock_tick("2021-07-10"),
    ]
    whole = Engine()
    for e in events:
        whole.accept(e)
    whole.finish()
    half = Engine()
    for e in events[:2]:
        half.accept(e)
    resumed = Engine.restore(half.snapshot())
    for e in events[2:]:
        resumed.accept(e)
    resumed.finish()
    assert resumed.take_verdicts() == whole.take_verdicts()

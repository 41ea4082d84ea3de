"""Early warnings: every foreseeable delist and fine is warned of, and no verdict changes.

"Foreseeable" is checked from the outside, by the engine itself on a cut history: take what the
run had applied before ``E_{T-1}`` and nothing after it, let the clock reach ``E_T``. If that
history alone gives the verdict at ``E_T``, the data at ``E_{T-1}`` made it foreseeable, and
the warnings of ``E_{T-1}`` must name the same subject, kind and instant, with those figures.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from sellerwatch.schemas.events import Enrollment
from sellerwatch.schemas.validation import Rejected, decode_event
from sellerwatch.schemas.verdict import Verdict
from sellerwatch.schemas.warning import EarlyWarning
from sellerwatch.streams.accounting import Outcome
from sellerwatch.streams.engine import Engine
from sellerwatch.streams.partitioned import PartitionedEngine
from tests.builders import outputs
from tests.properties.test_differential import SETTINGS, streams

FORESEEN = ("delist", "fine")


def run(records: list[Any], engine: Engine) -> tuple[list[Verdict], list[EarlyWarning], list[Any]]:
    """Verdicts, warnings, and the records the engine applied (in arrival order)."""
    applied = []
    for record in records:
        if isinstance(record, Rejected):
            engine.reject(record)
        elif engine.accept(record) is Outcome.APPLIED:
            applied.append(record)
    engine.finish()
    return engine.take_verdicts(), engine.take_warnings(), applied


def foreseen_by_cut_history(verdict: Verdict, applied: list[Any], day_ms: int) -> Verdict | None:
    """The verdict a history cut at ``E_{T-1}`` gives at ``E_T`` (None: not foreseeable)."""
    due = verdict.decided_at
    cut = [e for e in applied if e.ts < due - day_ms]
    tick = Enrollment(event_id="warn-tick", ts=due, shop_id="__clock__", action="cancel")
    verdicts, _, _ = run([*cut, tick], Engine())
    return next((v for v in verdicts if v.verdict_id == verdict.verdict_id), None)


def assert_foreseeable_ones_were_warned(records: list[Any]) -> int:
    """Returns how many foreseeable verdicts were checked."""
    verdicts, warnings, applied = run(records, Engine(collect_warnings=True))
    by_id: dict[tuple[str, int], EarlyWarning] = {}
    for warning in warnings:
        assert warning.warned_at < warning.due_at
        by_id.setdefault((warning.verdict_id, warning.warned_at), warning)
    checked = 0
    calendar = Engine().state.calendar
    for verdict in verdicts:
        if verdict.kind not in FORESEEN:
            continue
        day = calendar.day_of(verdict.decided_at)
        previous = calendar.start_of(day - 1)
        foreseen = foreseen_by_cut_history(verdict, applied, verdict.decided_at - previous)
        if foreseen is None:
            continue
        checked += 1
        warning = by_id.get((verdict.verdict_id, previous))
        assert warning is not None, f"{verdict.verdict_id}: foreseeable at {previous}, no warning"
        assert warning.due_at == verdict.decided_at
        assert (warning.numerator, warning.denominator) == (
            foreseen.numerator,
            foreseen.denominator,
        )
    return checked


def assert_no_verdict_changes(records: list[Any]) -> None:
    plain = outputs(Engine(collect_evaluations=True), records)
    warned = outputs(Engine(collect_evaluations=True, collect_warnings=True), records)
    assert warned == plain
    _, warnings, _ = run(records, Engine(collect_warnings=True))
    shards = PartitionedEngine(partitions=1 + len(records) % 4, collect_warnings=True)
    assert run(records, shards)[1] == warnings


@settings(SETTINGS, max_examples=60)
@given(streams())
def test_warnings_change_no_verdict_and_foresee_what_was_foreseeable(records: list[Any]) -> None:
    assert_no_verdict_changes(records)
    assert_foreseeable_ones_were_warned(records)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    path = tmp_path_factory.mktemp("warnings") / "events.jsonl"
    subprocess.run(
        [
            "sellerwatch", "generate", "--profile", "small", "--seed", "4",
            "--dup-rate", "0.01", "--late-rate", "0.01", "--bad-rate", "0.005",
            "--out", str(path),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return [decode_event(line) for line in Path(path).read_bytes().splitlines() if line.strip()]


def test_a_generated_marketplace_warns_of_every_foreseeable_delist_and_fine(
    generated: list[Any],
) -> None:
    assert_no_verdict_changes(generated)
    verdicts, warnings, _ = run(generated, Engine(collect_warnings=True))
    assert {v.kind for v in verdicts} >= set(FORESEEN)
    assert {w.kind for w in warnings} == set(FORESEEN)
    assert assert_foreseeable_ones_were_warned(generated) >= 5

"""Faults on request produce exactly the rejections, duplicates and late events asked for."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from sellerwatch.generator import PROFILES, FaultOptions, Generator
from sellerwatch.generator.faults import BAD_CASES
from sellerwatch.schemas.validation import REASONS, Rejected, decode_event
from tests.generator.conftest import lines, run

L_MS = 300_000  # the default allowed lateness


def _replay(tmp_path: Path, events: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, int]:
    """Replay with every sink; returns the closing summary's accounting from the rejects file."""
    capsys.readouterr()
    run(
        "replay", str(events), "--out", str(tmp_path / "v.jsonl"),
        "--rejects", str(tmp_path / "rejects.jsonl"), "--late", str(tmp_path / "late.jsonl"),
    )  # fmt: skip
    err = capsys.readouterr().err
    first = err.splitlines()[0]  # records in N: applied A, duplicate D, late L, rejected R
    figures = dict(
        (part.split()[0], int(part.split()[1].replace(",", "")))
        for part in first.split(": ", 1)[1].split(" (")[0].split(", ")
    )
    return figures


def test_bad_records_cover_every_rejection_case_of_the_spec(
    tmp_path: Path, generate: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert set(BAD_CASES) == set(REASONS)
    events = generate("--seed", "1", "--bad-rate", "0.01")
    figures = _replay(tmp_path, events, capsys)
    reasons = Counter(orjson.loads(line)["reason"] for line in lines(tmp_path / "rejects.jsonl"))
    assert set(reasons) == set(REASONS)
    assert min(reasons.values()) >= 10
    assert figures["rejected"] == sum(reasons.values())
    assert figures["duplicate"] == figures["late"] == 0


def test_bad_records_match_what_the_generator_reports() -> None:
    generator = Generator(PROFILES["small"], 5, FaultOptions(bad_rate=0.02))
    seen: Counter[str] = Counter()
    paid: set[str] = set()
    for batch in generator.batches():
        for _, _, _, line in batch:
            event = decode_event(line)
            if isinstance(event, Rejected):
                seen[event.reason] += 1
            elif type(event).__name__ == "Payment":
                if event.order_id in paid:  # type: ignore[union-attr]
                    seen["second_payment"] += 1
                paid.add(event.order_id)  # type: ignore[union-attr]
    assert seen == generator.summary().bad_by_reason


def test_duplicates_and_late_events_are_counted_as_such(
    tmp_path: Path, generate: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    events = generate("--seed", "2", "--dup-rate", "0.02", "--late-rate", "0.005")
    generator = Generator(PROFILES["small"], 2, FaultOptions(dup_rate=0.02, late_rate=0.005))
    for _ in generator.batches():
        pass
    faults = generator.summary().faults
    figures = _replay(tmp_path, events, capsys)
    assert figures["duplicate"] == faults["duplicate"] > 100
    assert faults["late"] - faults["held_to_end"] <= figures["late"] <= faults["late"]
    assert figures["late"] > 20
    assert figures["rejected"] == 0
    assert len(lines(tmp_path / "late.jsonl")) == figures["late"]


def test_shuffle_keeps_every_event_within_l_of_the_running_max(
    generate: Callable[..., Path],
) -> None:
    events = generate("--seed", "1", "--shuffle-ms", str(L_MS))
    running_max, behind, out_of_order = 0, 0, 0
    for line in lines(events):
        ts = orjson.loads(line)["ts"]
        if ts < running_max:
            out_of_order += 1
            behind = max(behind, running_max - ts)
        running_max = max(running_max, ts)
    assert behind <= L_MS
    assert out_of_order > 1_000  # it does reorder
    assert behind > L_MS // 2


def test_shuffle_within_the_allowed_lateness_keeps_the_verdicts(
    tmp_path: Path, generate: Callable[..., Path], small_verdicts: Path
) -> None:
    events = generate("--profile", "small", "--seed", "1", "--shuffle-ms", str(L_MS))
    out = tmp_path / "verdicts.jsonl"
    run("replay", str(events), "--out", str(out))
    assert out.read_bytes() == small_verdicts.read_bytes()

"""A run is a function of its seed and options: same seed, same bytes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sellerwatch.schemas.validation import Rejected, decode_event
from tests.generator.conftest import lines


def test_same_seed_gives_byte_identical_output(generate: Callable[..., Path]) -> None:
    first = generate("--seed", "7", name="a.jsonl").read_bytes()
    second = generate("--seed", "7", name="b.jsonl").read_bytes()
    assert first == second
    assert len(first) > 1_000_000


def test_same_seed_and_faults_give_byte_identical_output(generate: Callable[..., Path]) -> None:
    faults = ("--shuffle-ms", "300000", "--dup-rate", "0.01", "--bad-rate", "0.01")
    first = generate("--seed", "7", *faults, name="a.jsonl").read_bytes()
    second = generate("--seed", "7", *faults, name="b.jsonl").read_bytes()
    assert first == second


def test_different_seeds_give_different_output(generate: Callable[..., Path]) -> None:
    first = generate("--seed", "7", "--days", "3", name="a.jsonl").read_bytes()
    second = generate("--seed", "8", "--days", "3", name="b.jsonl").read_bytes()
    assert first != second


def test_faults_never_change_the_events_themselves(generate: Callable[..., Path]) -> None:
    clean = generate("--seed", "3", name="clean.jsonl")
    faulty = generate(
        "--seed", "3", "--shuffle-ms", "300000", "--dup-rate", "0.02", "--late-rate", "0.01",
        "--bad-rate", "0.01", name="faulty.jsonl",
    )  # fmt: skip
    kept = set()
    for line in lines(faulty):
        event = decode_event(line)
        if not isinstance(event, Rejected) and not event.event_id.startswith("bad-"):
            kept.add(line)
    assert sorted(kept) == sorted(lines(clean))


def test_gzip_output_is_byte_identical_too(generate: Callable[..., Path]) -> None:
    first = generate("--seed", "7", "--days", "3", name="a.jsonl.gz").read_bytes()
    second = generate("--seed", "7", "--days", "3", name="b.jsonl.gz").read_bytes()
    assert first == second

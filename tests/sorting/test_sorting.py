"""``--sort``: a shuffled history replays as the sorted one, in runs smaller than the input."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from sellerwatch.schemas.validation import Rejected
from sellerwatch.sorting import sorted_records
from sellerwatch.streams.engine import Engine

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample.jsonl.gz"


def _verdicts(records: list[object]) -> tuple[list[object], dict[str, object]]:
    engine = Engine()
    for decoded in records:
        if type(decoded) is Rejected:
            engine.reject(decoded)
        else:
            engine.accept(decoded)  # type: ignore[arg-type]
    engine.finish()
    return engine.take_verdicts(), engine.accounting.as_dict()


@pytest.mark.parametrize("run_records", [150, 1_000_000], ids=["many-runs", "one-run"])
def test_a_shuffled_history_sorted_replays_as_the_ordered_one(
    tmp_path: Path, run_records: int
) -> None:
    lines = [line for line in gzip.open(SAMPLE).read().splitlines() if line.strip()]
    ordered = [r[0] for r in sorted_records([str(SAMPLE)], run_records=run_records)]
    shuffled = lines[:]
    random.Random(7).shuffle(shuffled)
    halves = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    halves[0].write_bytes(b"\n".join(shuffled[: len(shuffled) // 2]) + b"\n")
    halves[1].write_bytes(b"\n".join(shuffled[len(shuffled) // 2 :]) + b"\n")
    resorted = [
        r[0]
        for r in sorted_records(
            [str(p) for p in halves], run_records=run_records, folder=str(tmp_path)
        )
    ]
    assert len(resorted) == len(lines)
    unsorted = _verdicts(
        [r[0] for p in halves for r in sorted_records([str(p)], run_records=10**9)]
    )
    assert _verdicts(resorted) == _verdicts(ordered)
    assert unsorted != _verdicts(ordered)  # without sorting the shuffle is mostly late
    assert not list(tmp_path.glob("sellerwatch-sort-*")), "runs are removed afterwards"


def test_ties_keep_the_input_order(tmp_path: Path) -> None:
    path = tmp_path / "ties.jsonl"
    path.write_bytes(
        b'{"type":"subsidy","event_id":"b","ts":1625457600000,"shop_id":"S","item_id":"I",'
        b'"action":"join"}\n'
        b'{"type":"subsidy","event_id":"a","ts":1625457600000,"shop_id":"S","item_id":"I",'
        b'"action":"exit"}\n'
        b'{"type":"subsidy","event_id":"c","ts":1625400000000,"shop_id":"S","item_id":"I",'
        b'"action":"join"}\n'
    )
    ids = [r[0].event_id for r in sorted_records([str(path)], run_records=1)]  # type: ignore[union-attr]
    assert ids == ["c", "b", "a"]

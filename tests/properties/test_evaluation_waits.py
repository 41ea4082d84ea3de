"""No evaluation at ``E`` before every input partition's watermark has reached ``E``.

Issue #9's property for a dataflow fed by many partitions: the engine's ``W`` is the least
``max ts - allowed lateness`` over the partitions that still hold it back (those not read to
their end), so a partition that lags holds every evaluation back. Checked after every record,
against that definition computed here, for one engine and a partitioned one, on the
differential tests' generated streams spread over four input partitions.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sellerwatch.schemas.validation import Rejected, decode_event
from sellerwatch.streams.engine import Engine
from sellerwatch.streams.partitioned import PartitionedEngine
from tests.properties.test_differential import SETTINGS, streams

PARTITIONS = ("p0", "p1", "p2", "p3")
SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample.jsonl.gz"


def _decided(engine: Engine) -> list[int]:
    """The instants of everything decided since the last call."""
    return [v.decided_at for v in engine.take_verdicts()] + [
        e.decided_at for e in engine.take_evaluations()
    ]


def _check(engine: Engine, records: list[Any], spread: list[int], ends: bool) -> int:
    """Feed ``records`` (the i-th to partition ``spread[i]``), ending each partition after its
    last record when ``ends``; the number of instants checked."""
    lateness = engine.policy.allowed_lateness_ms
    engine.assign(list(PARTITIONS))
    last = {p: i for i, p in enumerate(spread)}
    max_ts: dict[str, int] = {}
    ended: set[str] = set()
    checked = 0
    for index, (record, where) in enumerate(zip(records, spread, strict=True)):
        partition = PARTITIONS[where]
        if isinstance(record, Rejected):
            engine.reject(record)
        else:
            engine.accept(record, partition)
            max_ts[partition] = max(record.ts, max_ts.get(partition, record.ts))
        if ends and last[where] == index:
            engine.finish_partition(partition)
            ended.add(partition)
        holding = [p for p in PARTITIONS if p not in ended]
        if len(ended) == len(PARTITIONS):
            break  # the input is finished: everything may be decided
        if any(p not in max_ts for p in holding):
            assert _decided(engine) == [], "decided before every partition had a record"
            continue
        watermark = min(max_ts[p] for p in holding) - lateness
        for decided_at in _decided(engine):
            assert decided_at <= watermark, (decided_at, watermark, index)
            checked += 1
    return checked


@settings(SETTINGS, max_examples=80)
@given(streams(), st.data(), st.booleans(), st.integers(1, 4))
def test_no_evaluation_before_every_partitions_watermark(
    records: list[Any], data: st.DataObject, ends: bool, shards: int
) -> None:
    n = len(records)
    spread = data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    # each partition's records in their own order, but a partition may lag the others by up
    # to the whole stream, as a slow broker or consumer would make it
    delay = data.draw(st.lists(st.integers(0, n), min_size=4, max_size=4))
    order = sorted(range(n), key=lambda i: i + delay[spread[i]])
    records, spread = [records[i] for i in order], [spread[i] for i in order]
    engine = (
        Engine(collect_evaluations=True)
        if shards == 1
        else PartitionedEngine(partitions=shards, collect_evaluations=True)
    )
    _check(engine, records, spread, ends)


def test_a_lagging_partition_holds_back_a_whole_marketplace() -> None:
    """The shipped sample over four partitions, one of which has only the first hundredth of
    the records (less than the first day): nothing is decided until it is read to its end, and
    then everything up to the others' watermark is."""
    lines = gzip.open(SAMPLE).read().splitlines()
    records = [decode_event(line) for line in lines if line.strip()]
    lagging = len(records) // 100
    spread = [3 if i < lagging else i % 3 for i in range(len(records))]
    engine = Engine(collect_evaluations=True)
    assert _check(engine, records, spread, ends=False) == 0
    held_back = max(r.ts for r in records[:lagging] if not isinstance(r, Rejected))
    engine.finish_partition("p3")
    decided = _decided(engine)
    assert decided and min(decided) > held_back

"""A partitioned engine's snapshot: restored whole it continues exactly, and each partition's
share restores on its own, holding that partition's items and no other's."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sellerwatch.schemas.validation import Rejected
from sellerwatch.streams import snapshot as codec
from sellerwatch.streams.engine import Engine
from sellerwatch.streams.partitioned import PartitionedEngine, partition_of, restore
from sellerwatch.streams.policy import Policy
from sellerwatch.streams.snapshot import SnapshotError
from tests.builders import Outputs
from tests.properties.test_differential import SETTINGS, streams

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample.jsonl.gz"


def _lines() -> list[bytes]:
    return [line for line in gzip.open(SAMPLE).read().splitlines() if line.strip()]


def _feed(engine: Engine, records: list[Any]) -> None:
    for record in records:
        if isinstance(record, bytes):
            engine.accept_raw(record)
        elif isinstance(record, Rejected):
            engine.reject(record)
        else:
            engine.accept(record)


def _rest(engine: Engine, records: list[Any]) -> Outputs:
    """Feed the rest, finish: verdicts, evaluations, accounting, orphans."""
    _feed(engine, records)
    engine.finish()
    return (
        engine.take_verdicts(),
        engine.take_evaluations(),
        engine.accounting.as_dict(),
        engine.orphans_dropped,
    )


def _cut_and_restore(records: list[Any], at: int, partitions: int) -> tuple[Outputs, Outputs]:
    original = PartitionedEngine(partitions=partitions, collect_evaluations=True)
    _feed(original, records[:at])
    restored = PartitionedEngine.restore(original.snapshot(), Policy())
    return _rest(restored, records[at:]), _rest(original, records[at:])


@pytest.mark.parametrize("partitions", [1, 3, 8])
@pytest.mark.parametrize("cut", [0.2, 0.6])
def test_a_restored_partitioned_engine_decides_what_the_original_decides(
    partitions: int, cut: float
) -> None:
    lines = _lines()
    restored, original = _cut_and_restore(lines, int(len(lines) * cut), partitions)
    assert restored == original
    assert restored[0], "the sample's second part has verdicts"


@settings(SETTINGS, max_examples=60)
@given(streams(), st.floats(0, 1), st.integers(1, 5))
def test_a_cut_anywhere_in_a_generated_stream_changes_nothing(
    records: list[Any], cut: float, partitions: int
) -> None:
    restored, original = _cut_and_restore(records, int(len(records) * cut), partitions)
    assert restored == original


def test_each_partition_restores_alone_with_only_its_own_items() -> None:
    lines = _lines()
    engine = PartitionedEngine(partitions=4)
    _feed(engine, lines[: len(lines) // 2])
    held = 0
    for index in range(4):
        alone = Engine.restore(engine.partition_snapshot(index), Policy())
        orders = alone.state.book.orders
        assert {partition_of(o.item_id, 4) for o in orders.values()} <= {index}
        assert list(orders) == list(engine.shards[index].state.book.orders)
        held += len(orders)
    assert held == sum(len(s.state.book.orders) for s in engine.shards) > 0


def test_one_engines_snapshot_and_a_partitioned_one_are_not_mistaken() -> None:
    with pytest.raises(SnapshotError, match="no partitioned engine state"):
        PartitionedEngine.restore(Engine().snapshot())
    with pytest.raises(SnapshotError, match="no engine state"):
        Engine.restore(PartitionedEngine(partitions=2).snapshot())


def test_restore_gives_back_whichever_engine_wrote_the_snapshot() -> None:
    one, split = Engine(), PartitionedEngine(partitions=3)
    assert type(restore(one.snapshot())) is Engine
    again = restore(split.snapshot())
    assert isinstance(again, PartitionedEngine) and again.partitions == 3
    assert one.partitions == 1


def test_a_partitioned_snapshot_missing_a_partition_is_refused() -> None:
    document = codec.loads(PartitionedEngine(partitions=2).snapshot())
    document["partitions"] = document["partitions"][:1]
    with pytest.raises(SnapshotError, match="partitions or coordinator"):
        restore(codec.dumps(document, Policy()))

"""The worker's pure parts, without a broker: snapshots, routing, outputs."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from sellerwatch.agents.outputs import dead_letter_record, verdict_record
from sellerwatch.agents.produce import route
from sellerwatch.agents.snapshots import (
    CHUNK_BYTES,
    ForkedSnapshot,
    Snapshot,
    from_records,
    to_records,
)
from sellerwatch.agents.topics import Topics, topic_specs
from sellerwatch.schemas.validation import Rejected
from sellerwatch.streams.engine import Engine
from tests.builders import clock_tick, payment, run_sorted, subsidy


def test_a_snapshot_survives_chunking_and_only_a_complete_one_is_used() -> None:
    blob = random.Random(1).randbytes(3 * CHUNK_BYTES)  # incompressible: 3+ chunks
    records = to_records(Snapshot(blob, log_offset=42, snapshot_id=42))
    assert len(records) >= 3 and records[-1][0] == b"manifest"
    latest = dict(records)
    restored = from_records(latest)
    assert restored == Snapshot(blob, 42, 42)
    newer = dict(to_records(Snapshot(b"newer", 50, 50)))
    mixed = {**latest, **{k: v for k, v in newer.items() if k == b"manifest"}}
    with pytest.raises(ValueError, match="missing chunk"):
        from_records({**mixed, b"chunk-0": latest[b"chunk-0"]})
    assert from_records({}) is None


def _half_way() -> tuple[list[Any], Engine]:
    """A subsidy and a payment applied; the tick that would delist the item still to come."""
    events = [
        subsidy("I1", "2021-07-01"),
        payment("O1", "2021-07-02 10:00"),
        clock_tick("2021-07-10"),
    ]
    engine = Engine()
    engine.accept(events[0])
    engine.accept(events[1])
    return events, engine


def _finish_from(blob: bytes, events: list[Any]) -> None:
    """Restore ``blob``, feed the rest, and expect the verdicts of an uninterrupted run."""
    restored = Engine.restore(blob)
    assert restored.accounting.records_in == 2
    restored.accept(events[2])
    restored.finish()
    assert restored.take_verdicts() == run_sorted(events)


def test_an_engine_snapshot_restores_to_the_same_future() -> None:
    events, engine = _half_way()
    blob = dict(to_records(Snapshot(engine.snapshot(), 2, 2)))
    _finish_from(from_records(blob).engine_blob, events)  # type: ignore[union-attr]


async def test_a_forked_snapshot_is_the_state_when_it_started_not_when_it_finished() -> None:
    """The engine carries on while the child pickles; the snapshot must not see what came after."""
    events, engine = _half_way()
    forked = ForkedSnapshot(engine, log_offset=7)
    engine.accept(payment("O2", "2021-07-02 11:00"))  # after the fork: not in the snapshot
    await forked.data
    snapshot = from_records(dict(forked.records()))
    assert snapshot is not None and snapshot.log_offset == 7
    _finish_from(snapshot.engine_blob, events)


def test_records_are_routed_to_their_topic_with_the_spec_key() -> None:
    assert route(b'{"type":"pickup_scan","tracking_no":"T9"}') == ("pickup-scans", b"T9")
    assert route(b'{"type":"subsidy","item_id":"I1","shop_id":"S1"}') == ("seller-programs", b"I1")
    assert route(b"garbage") == ("payments", None)  # still delivered, so it is dead-lettered
    assert route(b'{"type":"teleport"}') == ("payments", None)


def test_outputs_key_verdicts_by_subject_and_keep_dead_letters_raw() -> None:
    topics = Topics("p.")
    verdict = run_sorted([subsidy("I1", "2021-07-01"), payment("O1", "2021-07-02 10:00"),
                          clock_tick("2021-07-10")])[0]  # fmt: skip
    record = verdict_record(topics, verdict)
    assert (record.topic, record.key) == ("p.verdicts.delist", b"I1")
    assert orjson.loads(record.value)["verdict_id"] == verdict.verdict_id
    letter = dead_letter_record(topics, b"\xffraw", Rejected("not_json", "bad"), "payments:2", 9)
    assert letter.value == b"\xffraw" and letter.topic == "p.sellerwatch.dead-letter"
    assert dict(letter.headers)["source_topic"] == b"p.payments"
    assert dict(letter.headers)["source_offset"] == b"9"


def test_every_topic_has_a_partition_count_and_retention_or_compaction() -> None:
    for spec in topic_specs():
        assert spec.partitions >= 1
        assert "retention.ms" in spec.config or spec.config.get("cleanup.policy") == "compact"
    assert {s.name for s in topic_specs()} >= {"payments", "sellerwatch.engine-log", "verdicts.tag"}

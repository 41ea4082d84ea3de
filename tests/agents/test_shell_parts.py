"""The worker's pure parts, without a broker: snapshots, routing, outputs."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import orjson
import pytest

from sellerwatch.agents import engine_runner
from sellerwatch.agents.direct import DirectRunner
from sellerwatch.agents.outputs import (
    DIVERTED_BYTES_MAX,
    dead_letter_record,
    late_record,
    verdict_record,
)
from sellerwatch.agents.produce import route
from sellerwatch.agents.settings import Settings
from sellerwatch.agents.snapshots import (
    CHUNK_BYTES,
    ForkedSnapshot,
    Snapshot,
    from_records,
    to_records,
)
from sellerwatch.agents.topics import MESSAGE_BYTES_MAX, Topics, topic_specs
from sellerwatch.schemas.validation import Rejected
from sellerwatch.streams.engine import Engine
from sellerwatch.streams.policy import Policy
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
    assert "truncated_from" not in dict(letter.headers)


def test_a_record_near_the_topics_size_limit_is_diverted_cut_to_fit() -> None:
    """A record an input topic took is over the limit once the dead-letter headers are added;
    sent whole, the transaction failed and the engine rebuilt and failed on it forever. One of
    1 MB (the broker's default limit, where that was first seen) now goes whole (SPEC §5)."""
    topics = Topics("p.")
    megabyte = b"x" * 1_048_400
    letter = dead_letter_record(topics, megabyte, Rejected("not_json", "bad"), "payments:0", 7)
    assert letter.value == megabyte and "truncated_from" not in dict(letter.headers)
    huge = b"x" * (MESSAGE_BYTES_MAX - 100)
    letter = dead_letter_record(topics, huge, Rejected("too_large", "big"), "payments:0", 7)
    late = late_record(topics, huge, "payments:0", 7, 1_000)
    for record in (letter, late):
        assert record.value == huge[:DIVERTED_BYTES_MAX]
        assert dict(record.headers)["truncated_from"] == str(len(huge)).encode()
        assert dict(record.headers)["source_offset"] == b"7"  # where the whole one stays


def test_every_topic_has_a_partition_count_and_retention_or_compaction() -> None:
    for spec in topic_specs():
        assert spec.partitions >= 1
        assert "retention.ms" in spec.config or spec.config.get("cleanup.policy") == "compact"
        # ids are as long as a record allows: a verdict naming one can pass the default 1 MiB
        assert spec.config["max.message.bytes"] == str(MESSAGE_BYTES_MAX)
    assert {s.name for s in topic_specs()} >= {"payments", "sellerwatch.engine-log", "verdicts.tag"}


class _Producer:
    """A transactional producer whose commit may fail, as a kill -9 or a fence cuts it."""

    def __init__(self, commit_fails: bool) -> None:
        self.commit_fails = commit_fails
        self.sent: list[str] = []

    async def begin_transaction(self) -> None:
        pass

    async def send(self, topic: str, **_: Any) -> Any:
        self.sent.append(topic)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def send_offsets_to_transaction(self, *_: Any) -> None:
        pass

    async def commit_transaction(self) -> None:
        if self.commit_fails:
            raise ConnectionError("the broker went away before the commit")


class _DoneSnapshot:
    """A forked snapshot whose child has finished."""

    def __init__(self) -> None:
        self.log_offset = 7
        self.data = asyncio.get_running_loop().create_future()
        self.data.set_result(None)

    def records(self) -> list[tuple[bytes, bytes]]:
        return [(b"manifest", b"{}")]


@pytest.mark.parametrize("commit_fails", [True, False])
async def test_a_snapshot_counts_as_committed_only_once_its_transaction_commits(
    commit_fails: bool,
) -> None:
    """`snapshots_committed` (in /stats/) tells an operator a restart would start from a
    snapshot: one sent in a transaction that never committed is not in the log."""
    runner = DirectRunner(Settings(bootstrap="localhost:1", topic_prefix="t-"))
    runner.engine = Engine(Policy())
    producer = _Producer(commit_fails)
    runner.producer = producer  # type: ignore[assignment]
    runner.pending_snapshot = _DoneSnapshot()  # type: ignore[assignment]
    offsets = {runner.log_tp: 7}
    try:
        if commit_fails:
            with pytest.raises(ConnectionError):
                await runner._publish([], offsets, records=0)
        else:
            await runner._publish([], offsets, records=0)
    finally:  # never started: stopping only closes them
        await runner.consumer.stop()
        await runner.inputs.stop()
    assert "t-sellerwatch.engine-state" in producer.sent
    assert runner.snapshots_committed == (0 if commit_fails else 1)


class _Outputs:
    """What the engine published, with Redis behind (``written``) or caught up."""

    def __init__(self) -> None:
        self.written = False

    def committed(self, *_: Any) -> None:
        pass

    def written_through(self, log_offset: int) -> bool:  # noqa: ARG002 - the protocol's
        return self.written


async def test_a_snapshot_waits_while_redis_lacks_verdicts_before_it_then_goes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A take-over re-derives, and writes to Redis again, only the outputs after its snapshot:
    one committed past outputs Redis never got would leave them in no one's memory."""
    outputs = _Outputs()
    runner = DirectRunner(Settings(bootstrap="localhost:1", topic_prefix="t-"), outputs)
    runner.engine = Engine(Policy())
    producer = _Producer(commit_fails=False)
    runner.producer = producer  # type: ignore[assignment]
    runner.pending_snapshot = _DoneSnapshot()  # type: ignore[assignment]
    try:
        await runner._publish([], {runner.log_tp: 7}, records=0)
        assert runner.snapshots_committed == 0 and runner.pending_snapshot is not None
        outputs.written = True
        await runner._publish([], {runner.log_tp: 8}, records=0)
        assert runner.snapshots_committed == 1 and runner.pending_snapshot is None
        # Redis away for longer than the wait: the snapshot goes regardless
        monkeypatch.setattr(engine_runner, "SNAPSHOT_WAITS_FOR_OUTPUTS_S", 0.0)
        outputs.written = False
        runner.pending_snapshot = _DoneSnapshot()  # type: ignore[assignment]
        await runner._publish([], {runner.log_tp: 9}, records=0)
        assert runner.snapshots_committed == 1
        await runner._publish([], {runner.log_tp: 10}, records=0)
        assert runner.snapshots_committed == 2
    finally:  # never started: stopping only closes them
        await runner.consumer.stop()
        await runner.inputs.stop()

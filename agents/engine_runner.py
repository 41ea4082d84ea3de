"""Stage 2: the one active engine, fed from the engine log, committing outputs exactly once.

The engine-log partition is owned by one worker of the ``sellerwatch-engine`` group at a time
(the others stand by). On taking it over, the owner fences any zombie by starting the
transactional producer ``sellerwatch-engine``, loads the newest snapshot from the state topic,
re-reads the log from the snapshot's offset up to the committed offset *without emitting* (the
engine is deterministic and everything that moves its watermark is in the log, so this rebuilds
the exact state), then carries on. Every batch is one transaction: verdicts, dead letters, late
records, metrics, sometimes a snapshot, and the consumer offset.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

from agents.clients import group_consumer, transactional_producer
from agents.envelope import EOF, EVENT, IDLE, kind_and_source, open_envelope, source_id
from agents.outputs import (
    OutRecord,
    dead_letter_record,
    late_record,
    metrics_record,
    verdict_record,
)
from agents.settings import Settings
from agents.snapshots import Snapshot, from_records, to_records
from agents.topics import ENGINE_LOG, ENGINE_STATE, Topics, input_partitions
from schemas.verdict import Evaluation, Verdict
from streams.engine import Engine, Outcome

log = logging.getLogger(__name__)

#: Called after each committed batch with its verdicts and evaluations (the Redis read model).
OnCommit = Callable[[list[Verdict], list[Evaluation]], Any]


def record_past(records: Sequence[Any], offset: int) -> bool:
    """Whether a batch reached ``offset``."""
    return bool(records) and records[-1].offset >= offset


class _Ownership(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: EngineRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        if self.runner.log_tp in revoked:
            await self.runner.stand_by()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        if self.runner.log_tp in assigned:
            self.runner.restore_due = True


class EngineRunner:
    """Runs the core on the engine log and publishes its outputs."""

    def __init__(self, settings: Settings, on_commit: OnCommit | None = None) -> None:
        """A runner for ``settings``; ``on_commit`` sees what each transaction published."""
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.group_id = self.topics("sellerwatch-engine")
        self.log_tp = TopicPartition(self.topics(ENGINE_LOG), 0)
        self.on_commit = on_commit
        self.consumer = group_consumer(settings.bootstrap, self.group_id, partition_fetch_mib=8)
        self.producer: AIOKafkaProducer | None = None
        self.engine: Engine | None = None
        self.active = False
        self.restore_due = False
        self.last_snapshot = time.monotonic()
        self.batches = 0
        self.records = 0
        self.committed_watermark: int | None = None
        self.verdicts_committed = 0
        self.finished = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume the engine log until ``stop`` is set (or, at end of input, ``finished``)."""
        await self.consumer.start()
        self.consumer.subscribe([self.log_tp.topic], listener=_Ownership(self))
        try:
            while not stop.is_set():
                if self.restore_due:
                    self.restore_due = False
                    await self._take_over()
                batch = await self.consumer.getmany(
                    self.log_tp, timeout_ms=100, max_records=100_000
                )
                records = batch.get(self.log_tp)
                if self.active and records:
                    await self._process(records)
        finally:
            await self.stand_by()
            await self.consumer.stop()

    async def stand_by(self) -> None:
        """Give up the engine (partition revoked or shutting down)."""
        self.active = False
        if self.producer is not None:
            producer, self.producer = self.producer, None
            await producer.stop()

    # -- taking over ---------------------------------------------------------------------
    async def _take_over(self) -> None:
        # One logical engine, one transactional id: a new owner fences the old one.
        self.producer = transactional_producer(self.settings.bootstrap, self.group_id, linger_ms=2)
        await self.producer.start()
        snapshot = await self._load_snapshot()
        if snapshot is None:
            self.engine = await self._fresh_engine()
            start = (await self.consumer.beginning_offsets([self.log_tp]))[self.log_tp]
        else:
            self.engine = Engine.restore(snapshot.engine_blob)
            start = snapshot.log_offset
        committed = await self.consumer.committed(self.log_tp)
        self.consumer.seek(self.log_tp, start)
        if committed is not None and committed > start:
            await self._rebuild_until(committed)
        log.info("engine active from log offset %s (snapshot %s)", committed or start, start)
        self.last_snapshot = time.monotonic()
        self.active = True

    async def _fresh_engine(self) -> Engine:
        engine = Engine(self.settings.policy(), collect_evaluations=True)
        found = await input_partitions(self.settings.bootstrap, self.topics)
        engine.assign([source_id(self.topics.unprefixed(t), p) for t, p in found])
        return engine

    async def _rebuild_until(self, committed: int) -> None:
        """Re-apply the log up to ``committed`` without emitting anything."""
        engine = self.engine
        assert engine is not None  # noqa: S101
        while await self.consumer.position(self.log_tp) < committed:
            batch = await self.consumer.getmany(self.log_tp, timeout_ms=500, max_records=50_000)
            for record in batch.get(self.log_tp, ()):
                if record.offset >= committed:
                    self.consumer.seek(self.log_tp, committed)
                    break
                self._apply(engine, record, None)
            engine.take_verdicts()  # published before the crash
            engine.take_evaluations()
            if self.consumer.assignment() and record_past(batch.get(self.log_tp, ()), committed):
                break

    async def _load_snapshot(self) -> Snapshot | None:
        reader = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap,
            isolation_level="read_committed",
            enable_auto_commit=False,
        )
        await reader.start()
        try:
            tp = TopicPartition(self.topics(ENGINE_STATE), 0)
            reader.assign([tp])
            await reader.seek_to_beginning(tp)
            end = (await reader.end_offsets([tp]))[tp]
            latest: dict[bytes, bytes] = {}
            while await reader.position(tp) < end:
                batch = await reader.getmany(tp, timeout_ms=500)
                for record in batch.get(tp, ()):
                    if record.key is not None and record.value is not None:
                        latest[record.key] = record.value
            return from_records(latest)
        finally:
            await reader.stop()

    # -- the hot path --------------------------------------------------------------------
    def _apply(self, engine: Engine, record: Any, out: list[OutRecord] | None) -> None:
        kind, source = kind_and_source(record.headers)
        if kind == EVENT:
            watermark = engine.watermark
            outcome, rejected = engine.accept_raw(record.value or b"", source)
            if out is None or outcome is Outcome.APPLIED or outcome is Outcome.DUPLICATE:
                return
            envelope = open_envelope(record.value, record.headers)
            if rejected is not None:
                out.append(
                    dead_letter_record(
                        self.topics, envelope.raw, rejected, envelope.source, envelope.offset
                    )
                )
            elif outcome is Outcome.LATE:
                out.append(
                    late_record(
                        self.topics, envelope.raw, envelope.source, envelope.offset, watermark
                    )
                )
        elif kind == IDLE:
            engine.release(source)
        elif kind == EOF:
            engine.finish_partition(source)
            if engine.clock.finished:
                self.finished.set()

    async def _process(self, records: Sequence[Any]) -> None:
        engine, producer = self.engine, self.producer
        assert engine is not None and producer is not None  # noqa: S101
        out: list[OutRecord] = []
        for record in records:
            self._apply(engine, record, out)
        verdicts = engine.take_verdicts()
        evaluations = engine.take_evaluations()
        out += [verdict_record(self.topics, v) for v in verdicts]
        out += [metrics_record(self.topics, e) for e in evaluations]
        next_offset = records[-1].offset + 1
        async with producer.transaction():
            for item in out:
                await producer.send(
                    item.topic, value=item.value, key=item.key, headers=item.headers
                )
            if time.monotonic() - self.last_snapshot >= self.settings.snapshot_interval_s:
                await self._send_snapshot(producer, engine, next_offset)
            await producer.send_offsets_to_transaction({self.log_tp: next_offset}, self.group_id)
        self.batches += 1
        self.records += len(records)
        self.committed_watermark = engine.watermark
        self.verdicts_committed += len(verdicts)
        if self.on_commit is not None and (verdicts or evaluations):
            result = self.on_commit(verdicts, evaluations)
            if asyncio.iscoroutine(result):
                await result

    async def _send_snapshot(self, producer: AIOKafkaProducer, engine: Engine, offset: int) -> None:
        topic = self.topics(ENGINE_STATE)
        for key, value in to_records(Snapshot(engine.snapshot(), offset, offset)):
            await producer.send(topic, key=key, value=value, partition=0)
        self.last_snapshot = time.monotonic()

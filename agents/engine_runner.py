"""The one active engine, committing its outputs exactly once.

The engine-log partition is owned by one worker of the ``sellerwatch-engine`` group at a time
(the others stand by). On taking it over, the owner fences any zombie by starting the
transactional producer ``sellerwatch-engine``, loads the newest snapshot from the state topic,
rebuilds the state from the snapshot up to the committed offsets *without emitting* (the engine
is deterministic and everything that decided its order and its watermark is logged), then carries
on. Every batch is one transaction: verdicts, dead letters, late records, metrics, sometimes a
snapshot, and the offsets.

:class:`EngineRunner` is what both ways of feeding the engine share; :class:`LogRunner` reads the
engine log the sequencers fill (``ingest = sequenced``), :class:`agents.direct.DirectRunner`
reads the input partitions itself (``ingest = direct``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

from agents.clients import group_consumer, send_batched, transactional_producer
from agents.envelope import (
    DECISION,
    DECISION_HEADERS,
    EOF,
    EVENT,
    IDLE,
    kind_and_source,
    open_envelope,
    source_id,
)
from agents.outputs import (
    OutRecord,
    dead_letter_record,
    late_record,
    metrics_records,
    verdict_record,
)
from agents.settings import Settings
from agents.snapshots import ForkedSnapshot, Snapshot, from_records
from agents.topics import ENGINE_LOG, ENGINE_STATE, METRICS, Topics, input_partitions
from schemas.validation import Rejected
from schemas.verdict import Evaluation, Verdict
from streams.engine import Engine, Outcome

log = logging.getLogger(__name__)
APPLIED, DUPLICATE = Outcome.APPLIED, Outcome.DUPLICATE

#: Called after each committed batch with its verdicts and evaluations (the Redis read model).
OnCommit = Callable[[list[Verdict], list[Evaluation]], Any]


def record_past(records: Sequence[Any], offset: int) -> bool:
    """Whether a batch reached ``offset``."""
    return bool(records) and records[-1].offset >= offset


class Ownership(ConsumerRebalanceListener):  # type: ignore[misc]
    """Whoever is assigned the engine-log partition runs the engine."""

    def __init__(self, runner: EngineRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        if self.runner.log_tp in revoked:
            await self.runner.stand_by()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        if self.runner.log_tp in assigned:
            self.runner.restore_due = True


class EngineRunner(ABC):
    """What both feeds share: ownership, take-over, applying records, the transactions."""

    def __init__(self, settings: Settings, on_commit: OnCommit | None = None) -> None:
        """A runner for ``settings``; ``on_commit`` sees what each transaction published."""
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.group_id = self.topics("sellerwatch-engine")
        self.log_tp = TopicPartition(self.topics(ENGINE_LOG), 0)
        self.metrics_topic = self.topics(METRICS)
        self.on_commit = on_commit
        self.consumer = group_consumer(settings.bootstrap, self.group_id, partition_fetch_mib=8)
        self.producer: AIOKafkaProducer | None = None
        self.engine: Engine | None = None
        self.active = False
        self.restore_due = False
        self.last_snapshot = time.monotonic()
        self.pending_snapshot: ForkedSnapshot | None = None
        self.snapshots_committed = 0
        self.batches = 0
        self.records = 0
        self.committed_watermark: int | None = None
        self.verdicts_committed = 0
        self.finished = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Take part in the engine group; while owning the engine, feed it until ``stop``."""
        await self.consumer.start()
        await self._open()
        self.consumer.subscribe([self.log_tp.topic], listener=Ownership(self))
        try:
            while not stop.is_set():
                if self.restore_due:
                    self.restore_due = False
                    await self._take_over()
                await self._step()
        finally:
            await self.stand_by()
            await self._close()
            await self.consumer.stop()

    async def _open(self) -> None:  # noqa: B027 - a hook: most feeds have no clients of their own
        """Start the feed's own clients (before joining the group)."""

    async def _close(self) -> None:  # noqa: B027 - the same hook's other half
        """Stop the feed's own clients."""

    @abstractmethod
    async def _step(self) -> None:
        """One batch of the feed: read, apply, publish (or wait, standing by)."""

    async def stand_by(self) -> None:
        """Give up the engine (partition revoked or shutting down)."""
        self.active = False
        if self.producer is not None:
            producer, self.producer = self.producer, None
            await producer.stop()

    # -- taking over ---------------------------------------------------------------------
    async def _take_over(self) -> None:
        # One logical engine, one transactional id: a new owner fences the old one.
        self.pending_snapshot = None  # a child of the previous ownership: not ours to commit
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
        await self._rebuild(start, max(start, committed or 0))
        self.engine.take_verdicts()  # published before the take-over
        self.engine.take_evaluations()
        log.info("engine active from log offset %s (snapshot %s)", committed or start, start)
        self.last_snapshot = time.monotonic()
        self.active = True

    @abstractmethod
    async def _rebuild(self, start: int, committed: int) -> None:
        """Re-apply what was logged from log offset ``start`` up to ``committed``, silently."""

    async def _fresh_engine(self) -> Engine:
        engine = Engine(self.settings.policy(), collect_evaluations=True)
        found = await input_partitions(self.settings.bootstrap, self.topics)
        engine.assign([source_id(self.topics.unprefixed(t), p) for t, p in found])
        return engine

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

    # -- applying records (the same calls live and when rebuilding) -------------------------
    def _diverted(
        self,
        engine: Engine,
        raw: bytes,
        source: str,
        offset: int,
        outcome: Outcome,
        rejected: Rejected | None,
    ) -> OutRecord:
        """The dead letter of a rejected record, or the late record of a late one."""
        if rejected is not None:
            return dead_letter_record(self.topics, raw, rejected, source, offset)
        # A late record does not move W: the engine's W now is the one it missed.
        return late_record(self.topics, raw, source, offset, engine.watermark)

    def _apply_marker(self, engine: Engine, kind: bytes, source: str) -> None:
        """An input partition went idle (live) or was read to its end (backtest)."""
        if kind == IDLE:
            engine.release(source)
        elif kind == EOF:
            engine.finish_partition(source)
            if engine.clock.finished:
                self.finished.set()
        else:
            raise ValueError(f"unknown marker {kind!r}")

    async def _publish(
        self,
        out: list[OutRecord],
        offsets: dict[TopicPartition, int],
        records: int,
        decision: bytes | None = None,
    ) -> None:
        """One transaction: the outputs, the decision record, maybe a snapshot, the offsets.

        ``offsets`` are the next offsets to read; with a ``decision`` (direct ingest), the log
        offset committed is the one after it.
        """
        engine, producer = self.engine, self.producer
        assert engine is not None and producer is not None  # noqa: S101
        verdicts = engine.take_verdicts()
        evaluations = engine.take_evaluations()
        out += [verdict_record(self.topics, v) for v in verdicts]
        async with producer.transaction():
            for item in out:
                await producer.send(
                    item.topic, value=item.value, key=item.key, headers=item.headers
                )
            if evaluations:
                await send_batched(producer, self.metrics_topic, 0, metrics_records(evaluations))
            if decision is not None:
                sent = await producer.send(
                    self.log_tp.topic, value=decision, partition=0, headers=DECISION_HEADERS
                )
                offsets[self.log_tp] = (await sent).offset + 1
            await self._snapshot_step(producer, engine, offsets[self.log_tp])
            await producer.send_offsets_to_transaction(offsets, self.group_id)
        self.batches += 1
        self.records += records
        self.committed_watermark = engine.watermark
        self.verdicts_committed += len(verdicts)
        if self.on_commit is not None and (verdicts or evaluations):
            result = self.on_commit(verdicts, evaluations)
            if asyncio.iscoroutine(result):
                await result

    async def _snapshot_step(self, producer: AIOKafkaProducer, engine: Engine, offset: int) -> None:
        """Inside a transaction: commit a finished snapshot, or start one when it is due.

        The snapshot is taken in a forked child (``ForkedSnapshot``) at ``offset``, the log offset
        this transaction commits, and written by a later transaction once the child is done.
        """
        pending = self.pending_snapshot
        if pending is not None and pending.data.done():
            self.pending_snapshot = None
            topic = self.topics(ENGINE_STATE)
            for key, value in pending.records():  # raises if the child failed: restart
                await producer.send(topic, key=key, value=value, partition=0)
            self.snapshots_committed += 1
        elif pending is None and (
            time.monotonic() - self.last_snapshot >= self.settings.snapshot_interval_s
        ):
            self.pending_snapshot = ForkedSnapshot(engine, offset)
            self.last_snapshot = time.monotonic()


class LogRunner(EngineRunner):
    """``ingest = sequenced``: the engine reads the engine log that the sequencers fill."""

    async def _step(self) -> None:
        batch = await self.consumer.getmany(self.log_tp, timeout_ms=100, max_records=100_000)
        records = batch.get(self.log_tp)
        if self.active and records:
            await self._process(records)

    async def _rebuild(self, start: int, committed: int) -> None:
        engine = self.engine
        assert engine is not None  # noqa: S101
        self.consumer.seek(self.log_tp, start)
        while committed > start and await self.consumer.position(self.log_tp) < committed:
            batch = await self.consumer.getmany(self.log_tp, timeout_ms=500, max_records=50_000)
            for record in batch.get(self.log_tp, ()):
                if record.offset >= committed:
                    self.consumer.seek(self.log_tp, committed)
                    break
                self._apply_log_record(engine, record, None)
            engine.take_verdicts()  # published before the crash
            engine.take_evaluations()
            if self.consumer.assignment() and record_past(batch.get(self.log_tp, ()), committed):
                break

    def _apply_log_record(self, engine: Engine, record: Any, out: list[OutRecord] | None) -> None:
        kind, source = kind_and_source(record.headers)
        if kind == EVENT:
            raw = record.value or b""
            outcome, rejected = engine.accept_raw(raw, source)
            if out is not None and outcome is not APPLIED and outcome is not DUPLICATE:
                offset = open_envelope(raw, record.headers).offset
                out.append(self._diverted(engine, raw, source, offset, outcome, rejected))
        elif kind == DECISION:
            raise RuntimeError(
                f"{self.log_tp.topic} was written by a direct-ingest engine; "
                "run with SELLERWATCH_INGEST=direct, or use a fresh topic prefix"
            )
        else:
            self._apply_marker(engine, kind, source)

    async def _process(self, records: Sequence[Any]) -> None:
        engine = self.engine
        assert engine is not None  # noqa: S101
        out: list[OutRecord] = []
        for record in records:
            self._apply_log_record(engine, record, out)
        await self._publish(out, {self.log_tp: records[-1].offset + 1}, len(records))

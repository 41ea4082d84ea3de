"""The one active engine, committing its outputs exactly once.

The engine-log partition is owned by one worker of the ``sellerwatch-engine`` group at a time
(the others stand by). On taking it over, the owner fences any zombie by starting the
transactional producer ``sellerwatch-engine``, loads the newest snapshot from the state topic,
rebuilds the state from the snapshot up to the committed offsets *without emitting* (the engine
is deterministic and everything that decided its order and its watermark is logged), then carries
on. Every batch is one transaction: verdicts, dead letters, late records, metrics, sometimes a
snapshot, and the offsets.

:class:`EngineRunner` is the ownership, recovery and transactions;
:class:`agents.direct.DirectRunner` feeds it, reading the input partitions itself and logging
what it applied (a sequenced feed, through a copy of every record in the engine log, was
removed: docs/decisions.md #23).
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

from sellerwatch.agents.clients import group_consumer, send_batched, transactional_producer
from sellerwatch.agents.deadlines import (
    Deadlines,
    RebuildBudget,
    StageStalled,
    StateRefused,
    keep_rebuilding,
    sender_died,
    stop_client,
    within,
)
from sellerwatch.agents.envelope import (
    DECISION_HEADERS,
    EOF,
    IDLE,
    source_id,
)
from sellerwatch.agents.outputs import (
    OutRecord,
    dead_letter_record,
    evidence_records,
    late_record,
    metrics_records,
    verdict_record,
    warning_record,
)
from sellerwatch.agents.settings import Settings
from sellerwatch.agents.snapshots import ForkedSnapshot, Snapshot, from_records, latest_per_key
from sellerwatch.agents.stage_health import PROGRESS
from sellerwatch.agents.topics import ENGINE_LOG, ENGINE_STATE, METRICS, Topics, input_partitions
from sellerwatch.schemas.validation import Rejected
from sellerwatch.schemas.verdict import Evaluation, Verdict
from sellerwatch.streams.accounting import Outcome
from sellerwatch.streams.engine import Engine
from sellerwatch.streams.partitioned import PartitionedEngine, restore
from sellerwatch.streams.snapshot import SnapshotError

log = logging.getLogger(__name__)
APPLIED, DUPLICATE = Outcome.APPLIED, Outcome.DUPLICATE
#: How long a finished snapshot may wait for the read model to be written up to its offset
#: (``Published.written_through``) before it is committed regardless: a Redis outage must
#: not make every later take-over replay more and more of the log.
SNAPSHOT_WAITS_FOR_OUTPUTS_S = 1800.0


class Published(Protocol):
    """Who is told what the engine published: the worker's metrics and its Redis read model."""

    def committed(
        self, verdicts: list[Verdict], evaluations: list[Evaluation], log_offset: int
    ) -> None:
        """A transaction committed these; the engine log's committed offset is now
        ``log_offset``."""

    def replayed(self, verdicts: list[Verdict], evaluations: list[Evaluation]) -> None:
        """A take-over re-derived these, committed by an earlier owner (published again: no)."""

    def recovered(self, replayed_from: int | None, log_offset: int) -> None:
        """The take-over's replay is done: it re-derived the outputs of log offsets
        ``[replayed_from, log_offset)``, from the log's first record if ``None``."""

    def stood_by(self) -> None:
        """This worker gave up the engine (or stops): what it started as owner ends."""

    def written_through(self, log_offset: int) -> bool:
        """Whether every output committed before ``log_offset`` is written where it is read
        (Redis), not only held in this process: only then may a snapshot at that offset be
        committed, since a take-over re-derives only the outputs of the log after its
        snapshot."""


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

    def __init__(
        self,
        settings: Settings,
        published: Published | None = None,
        deadlines: Deadlines | None = None,
    ) -> None:
        """A runner for ``settings``; ``published`` is told what it publishes."""
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.group_id = self.topics("sellerwatch-engine")
        self.log_tp = TopicPartition(self.topics(ENGINE_LOG), 0)
        self.metrics_topic = self.topics(METRICS)
        self.published = published
        self.deadlines = deadlines or Deadlines.from_env()
        self.budget = RebuildBudget(
            self.deadlines.give_up_after, min_s=self.deadlines.give_up_min_s
        )
        self.progress = PROGRESS
        self.consumer = self._group_consumer()
        self.producer: AIOKafkaProducer | None = None
        #: The part of the running transaction, named when it misses its deadline.
        self.txn_step = "begin_transaction"
        self.snapshot_started = 0.0
        #: End offsets of the feed's partitions at take-over: reaching them is catching up.
        self.catch_up_to: dict[TopicPartition, int] = {}
        self.progress_checked = 0.0
        self.engine: Engine | None = None
        #: The log offset of the snapshot the engine was restored from (None: built afresh).
        self.restored_from: int | None = None
        self.active = False
        self.restore_due = False
        self.last_snapshot = time.monotonic()
        self.pending_snapshot: ForkedSnapshot | None = None
        #: ``time.monotonic()`` since a finished snapshot waits for the read model, if one does.
        self.snapshot_held_since: float | None = None
        self.snapshots_committed = 0
        self.batches = 0
        self.records = 0
        self.committed_watermark: int | None = None
        self.verdicts_committed = 0
        self.finished = asyncio.Event()

    def _group_consumer(self) -> AIOKafkaConsumer:
        return group_consumer(self.settings.bootstrap, self.group_id, partition_fetch_mib=8)

    async def run(self, stop: asyncio.Event) -> None:
        """Take part in the engine group; while owning the engine, feed it until ``stop``.

        A failure or a missed deadline rebuilds the stage from committed state; too many in a
        row without a commit raise :class:`agents.deadlines.StageGaveUp`.
        """
        first = True

        async def attempt() -> None:
            nonlocal first
            if not first:
                self._reconnect()
            first = False
            await self._run_once(stop)

        await keep_rebuilding(
            "engine", attempt, stop, self.budget, on_restart=lambda: self.progress.emit("restart")
        )

    def _reconnect(self) -> None:
        """Fresh clients and no engine: the next take-over rebuilds it from committed state."""
        self.consumer = self._group_consumer()
        self.engine = None
        self.active = self.restore_due = False
        self.pending_snapshot = None

    async def _run_once(self, stop: asyncio.Event) -> None:
        try:
            await within(self.deadlines.client_s, self.consumer.start(), "starting the consumer")
            await self._open()
            self.consumer.subscribe([self.log_tp.topic], listener=Ownership(self))
            while not stop.is_set():
                if self.restore_due:
                    self.restore_due = False
                    await self._take_over()
                elif self.producer is not None and (dead := sender_died(self.producer)):
                    raise StageStalled(dead)
                await self._step()
        finally:
            await self.stand_by()
            await self._close()
            await stop_client(self.consumer, self.deadlines.stop_s, "the engine-group consumer")

    async def _kafka(self, step: Any, what: str, seconds: float | None = None) -> Any:
        """One Kafka call with the step deadline (raced against the producer's sender)."""
        return await within(seconds or self.deadlines.step_s, step, what, self.producer)

    async def _open(self) -> None:  # noqa: B027 - a hook: most feeds have no clients of their own
        """Start the feed's own clients (before joining the group)."""

    async def _close(self) -> None:  # noqa: B027 - the same hook's other half
        """Stop the feed's own clients."""

    def _idle_poll(self) -> None:
        """A poll that found nothing waiting: the stage works."""
        self.progress.progressed()
        self.budget.ok()

    def _broker_answered(self) -> None:
        """A stand-by's poll, or one waiting for answers: alive, but nothing was committed."""
        self.progress.progressed()
        self.budget.settled()

    async def _track_progress(self, consumer: AIOKafkaConsumer, partitions: Sequence[Any]) -> None:
        """At most once a second: the lag of ``partitions``, whether input waits, caught up."""
        now = time.monotonic()
        if now - self.progress_checked < 1.0:
            return
        self.progress_checked = now
        lag: dict[str, int] = {}
        behind = False
        for tp in partitions:
            position = await self._kafka(consumer.position(tp), "position")
            behind = behind or position < self.catch_up_to.get(tp, 0)
            stable = consumer.last_stable_offset(tp)
            if stable is not None:
                lag[f"{tp.topic}:{tp.partition}"] = max(0, stable - position)
        progress = self.progress
        progress.lag = lag
        progress.input_waiting = any(lag.values())
        progress.caught_up = self.active and (progress.caught_up or not behind)
        if not progress.input_waiting:
            progress.progressed()

    @abstractmethod
    async def _step(self) -> None:
        """One batch of the feed: read, apply, publish (or wait, standing by)."""

    async def stand_by(self) -> None:
        """Give up the engine (partition revoked or shutting down)."""
        if self.published is not None:  # also mid take-over: a read back may have begun
            self.published.stood_by()
        self.active = False
        self.progress.caught_up = self.progress.input_waiting = False
        self.progress.lag = {}
        if self.producer is not None:
            producer, self.producer = self.producer, None
            await stop_client(producer, self.deadlines.stop_s, "the engine's producer")

    def _outputs_written(self, log_offset: int) -> bool:
        """Whether a snapshot at ``log_offset`` may be committed: once every output before it
        is written (a Redis outage holds it back), or after ``SNAPSHOT_WAITS_FOR_OUTPUTS_S``."""
        if self.published is None or self.published.written_through(log_offset):
            if self.snapshot_held_since is not None:
                log.warning("the snapshot held back for the read model goes now: it is written")
            self.snapshot_held_since = None
            return True
        now = time.monotonic()
        if self.snapshot_held_since is None:
            self.snapshot_held_since = now
            log.warning(
                "the snapshot at engine log offset %d waits until Redis holds the verdicts "
                "before it (a take-over meanwhile replays from the snapshot before, and writes "
                "them); after %.0fs it goes regardless",
                log_offset,
                SNAPSHOT_WAITS_FOR_OUTPUTS_S,
            )
            return False
        if now - self.snapshot_held_since < SNAPSHOT_WAITS_FOR_OUTPUTS_S:
            return False
        log.warning(
            "the snapshot at engine log offset %d goes without Redis holding the verdicts before "
            "it (unwritten for %.0fs): a take-over from it will report them missing",
            log_offset,
            now - self.snapshot_held_since,
        )
        self.snapshot_held_since = None
        return True

    # -- taking over ---------------------------------------------------------------------
    async def _take_over(self) -> None:
        # One logical engine, one transactional id: a new owner fences the old one.
        self.pending_snapshot = None  # a child of the previous ownership: not ours to commit
        self.snapshot_held_since = None
        self.producer = transactional_producer(self.settings.bootstrap, self.group_id, linger_ms=2)
        await self._kafka(
            self.producer.start(), "starting the transactional producer", self.deadlines.client_s
        )
        snapshot = await self._kafka(
            self._load_snapshot(), "loading the snapshot", self.deadlines.snapshot_s
        )
        if snapshot is None:
            self.engine = await self._fresh_engine()
            starts = await self._kafka(self.consumer.beginning_offsets([self.log_tp]), "offsets")
            start = starts[self.log_tp]
            self.restored_from = None
        else:
            self.engine = self._restore(snapshot.engine_blob)
            start = self.restored_from = snapshot.log_offset
        committed = await self._kafka(self.consumer.committed(self.log_tp), "committed offsets")
        committed = max(start, committed or 0)
        await self._rebuild(start, committed)
        self._replayed(self.engine)
        if self.published is not None:
            self.published.recovered(None if snapshot is None else start, committed)
        self.catch_up_to = await self._catch_up_target()
        self.progress.caught_up = False
        log.info("engine active from log offset %s (snapshot %s)", committed or start, start)
        self.last_snapshot = time.monotonic()
        self.active = True

    def _restore(self, blob: bytes) -> Engine:
        """The snapshot's engine, under the policy in force; refused if written under another
        policy or in another format (``streams.snapshot``: nothing in it is ever run)."""
        try:
            engine = restore(blob, self.settings.policy())
        except SnapshotError as exc:
            raise self._refused(str(exc)) from None
        engine.collect(evidence=self.settings.evidence, warnings=self.settings.warnings)
        held = engine.partitions
        if held != self.settings.partitions:
            log.warning(
                "the engine's snapshot holds %d partition(s); SELLERWATCH_PARTITIONS=%d takes "
                "effect after `sellerwatch reset` (the verdicts are the same either way)",
                held,
                self.settings.partitions,
            )
        return engine

    def _refused(self, why: str) -> StateRefused:
        state = self.topics(ENGINE_STATE)
        prefix = shlex.quote(self.settings.topic_prefix)
        return StateRefused(
            f"cannot restore the engine's snapshot from {state}: {why}. To rebuild the state "
            f"from the input topics under the policy in force, stop every worker and run "
            f"`sellerwatch reset --topic-prefix {prefix}`; or start the workers with the "
            "snapshot's policy"
        )

    @abstractmethod
    async def _catch_up_target(self) -> dict[TopicPartition, int]:
        """The end offsets of what the feed reads, seen now (at take-over)."""

    @abstractmethod
    async def _rebuild(self, start: int, committed: int) -> None:
        """Re-apply what was logged from log offset ``start`` up to ``committed``, silently."""

    async def _fresh_engine(self) -> Engine:
        options: dict[str, Any] = {
            "collect_evaluations": True,
            "collect_evidence": self.settings.evidence,
            "collect_warnings": self.settings.warnings,
        }
        engine = self._new_engine(options)
        found = await self._kafka(
            input_partitions(self.settings.bootstrap, self.topics), "listing the input partitions"
        )
        engine.assign([source_id(self.topics.unprefixed(t), p) for t, p in found])
        return engine

    def _new_engine(self, options: dict[str, Any]) -> Engine:
        """An empty engine of the kind this runner drives."""
        partitions = self.settings.partitions
        if partitions > 1:
            return PartitionedEngine(self.settings.policy(), partitions=partitions, **options)
        return Engine(self.settings.policy(), **options)

    async def _load_snapshot(self) -> Snapshot | None:
        latest = await latest_per_key(
            self.settings.bootstrap, self.topics(ENGINE_STATE), self._stop_reader
        )
        try:
            return from_records(latest)
        except Exception as exc:  # noqa: BLE001 - a stranger's record: refuse, never run it
            raise self._refused(f"its records are damaged ({type(exc).__name__}: {exc})") from None

    async def _stop_reader(self, reader: Any) -> None:
        await stop_client(reader, self.deadlines.stop_s, "the snapshot reader")

    def _replayed(self, engine: Engine) -> None:
        """Drop what a replay re-derived, all published before the take-over; the verdicts
        and figures go to ``published`` (the read model may lack them: a killed owner's)."""
        verdicts, evaluations = engine.take_verdicts(), engine.take_evaluations()
        engine.discard_outputs()
        if self.published is not None and (verdicts or evaluations):
            self.published.replayed(verdicts, evaluations)

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
        for evidence in engine.take_evidence():
            out += evidence_records(self.topics, evidence)
        out += [warning_record(self.topics, w) for w in engine.take_warnings()]
        commit_s, snapshot_bytes = await within(
            self.deadlines.step_s,
            self._transaction(producer, engine, out, evaluations, offsets, decision),
            lambda: self.txn_step,
            producer,
        )
        self.budget.ok()
        self.progress.emit("commit", commit_s)
        if snapshot_bytes is not None:
            # counted only now: a snapshot sent in a transaction a kill -9 cut is not in the log
            self.snapshots_committed += 1
            self.progress.emit("snapshot", time.monotonic() - self.snapshot_started, snapshot_bytes)
        self.batches += 1
        self.records += records
        self.committed_watermark = engine.watermark
        self.verdicts_committed += len(verdicts)
        if self.published is not None and (verdicts or evaluations):
            self.published.committed(verdicts, evaluations, offsets[self.log_tp])

    async def _transaction(
        self,
        producer: AIOKafkaProducer,
        engine: Engine,
        out: list[OutRecord],
        evaluations: list[Evaluation],
        offsets: dict[TopicPartition, int],
        decision: bytes | None,
    ) -> tuple[float, int | None]:
        """Begin, send, wait for every delivery, add the offsets, commit; the seconds the
        commit took, and the bytes of the snapshot it carried (``None``: no snapshot).

        No abort on failure: the stage is rebuilt, and its new producer (same transactional id)
        aborts this transaction when it fences this producer. Every delivery is awaited before
        the commit because aiokafka commits a transaction even when a batch in it failed
        (a record over the broker's ``message.max.bytes``, for one): the Java client refuses
        that commit (KAFKA-9279); without the wait, those records would be lost silently.
        """
        self.txn_step = "begin_transaction"
        await producer.begin_transaction()
        self.txn_step = "send"
        deliveries = [
            await producer.send(
                item.topic,
                value=item.value,
                key=item.key,
                headers=item.headers,
                partition=item.partition,
            )
            for item in out
        ]
        if evaluations:
            deliveries += await send_batched(
                producer, self.metrics_topic, 0, metrics_records(evaluations)
            )
        if decision is not None:
            sent = await producer.send(
                self.log_tp.topic, value=decision, partition=0, headers=DECISION_HEADERS
            )
            self.txn_step = "send (decision record)"
            offsets[self.log_tp] = (await sent).offset + 1
        self.txn_step = "delivery of the outputs"
        await asyncio.gather(*deliveries)
        self.txn_step = "send (snapshot)"
        snapshot_bytes = await self._snapshot_step(producer, engine, offsets[self.log_tp])
        self.txn_step = "send_offsets_to_transaction"
        await producer.send_offsets_to_transaction(offsets, self.group_id)
        self.txn_step = "commit_transaction"
        started = time.perf_counter()
        await producer.commit_transaction()
        return time.perf_counter() - started, snapshot_bytes

    async def _snapshot_step(
        self, producer: AIOKafkaProducer, engine: Engine, offset: int
    ) -> int | None:
        """Inside a transaction: send a finished snapshot (its bytes), or start one when it is
        due (``None``: nothing sent).

        The snapshot is taken in a forked child (``ForkedSnapshot``) at ``offset``, the log offset
        this transaction commits, and written by a later transaction once the child is done.
        """
        pending = self.pending_snapshot
        if pending is not None and pending.data.done():
            if not self._outputs_written(pending.log_offset):
                return None
            self.pending_snapshot = None
            topic = self.topics(ENGINE_STATE)
            records = pending.records()  # raises if the child failed: restart
            for key, value in records:
                await producer.send(topic, key=key, value=value, partition=0)
            return sum(len(value) for _, value in records)
        if pending is None and (
            time.monotonic() - self.last_snapshot >= self.settings.snapshot_interval_s
        ):
            self.pending_snapshot = ForkedSnapshot(engine, offset)
            self.last_snapshot = self.snapshot_started = time.monotonic()
        return None

"""A partition worker: it holds the state partitions the group assigns it, and only those.

``SELLERWATCH_ROLE=partitions``. The workers of a deployment form the consumer group
``sellerwatch-partitions`` over ``sellerwatch.partition-log``, whose partition ``i`` carries
everything the coordinator (:mod:`agents.coordinator`) sends state partition ``i``: its events
and the asks of each evaluation instant (:mod:`streams.instant`). For each partition it holds,
a worker keeps a :class:`streams.partitioned.Shard` — the same core as every other driver —
applies the log in order and answers each ask on ``sellerwatch.partition-answers``.

Exactly once, per partition: every batch of a partition's log is one transaction of that
partition's own transactional producer (``sellerwatch-partition-<i>``, so whoever takes the
partition over fences the worker that held it): its answers, sometimes its snapshot, and its
log offset. A partition's state is recovered on its own: its newest snapshot
(``sellerwatch.partition-state``, keys ``<i>/...``, the no-pickle format of
:mod:`streams.snapshot`, written by a forked child as the engine's are) and a silent replay of
its log from the snapshot's offset up to the committed one. A shard is a deterministic
function of its log, so the replayed answers are the ones already committed, and none is sent
twice. Adding a worker, stopping one (SIGTERM) or killing one (-9) moves partitions; the
coordinator only waits longer for their answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

from sellerwatch.agents.clients import group_consumer, transactional_producer
from sellerwatch.agents.deadlines import (
    Deadlines,
    RebuildBudget,
    StateRefused,
    keep_rebuilding,
    stop_client,
    within,
)
from sellerwatch.agents.framing import Joiner, frames
from sellerwatch.agents.settings import Settings
from sellerwatch.agents.snapshots import ForkedSnapshot, from_records, latest_per_key
from sellerwatch.agents.stage_health import PROGRESS
from sellerwatch.agents.topics import PARTITION_ANSWERS, PARTITION_LOG, PARTITION_STATE, Topics
from sellerwatch.streams import remote
from sellerwatch.streams.partitioned import Shard
from sellerwatch.streams.snapshot import SnapshotError

log = logging.getLogger(__name__)


@dataclass
class Held:
    """One state partition this worker holds: its shard, producer and progress in its log."""

    index: int
    shard: Shard
    producer: AIOKafkaProducer
    #: The next log offset to apply.
    next_offset: int
    #: Below this offset the log was applied and answered before: replayed silently.
    replay_until: int
    #: The offset after the last whole blob of messages (a snapshot starts there).
    whole_offset: int
    #: The log offset of the snapshot it was restored from (``None``: built from the start).
    restored_from: int | None = None
    joiner: Joiner = field(default_factory=Joiner)
    last_snapshot: float = field(default_factory=time.monotonic)
    pending_snapshot: ForkedSnapshot | None = None


class _Assignment(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: PartitionRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self.runner.let_go(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.runner.due.update(assigned)


class PartitionRunner:
    """Holds, applies and answers the state partitions assigned to this worker."""

    #: No engine of its own (the web views and metrics ask).
    engine = None
    active = False

    def __init__(self, settings: Settings, deadlines: Deadlines | None = None) -> None:
        """A partition worker for ``settings``."""
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.group_id = self.topics("sellerwatch-partitions")
        self.log_topic = self.topics(PARTITION_LOG)
        self.answers_topic = self.topics(PARTITION_ANSWERS)
        self.state_topic = self.topics(PARTITION_STATE)
        self.policy = settings.policy()
        self.deadlines = deadlines or Deadlines.from_env()
        self.budget = RebuildBudget(
            self.deadlines.give_up_after, min_s=self.deadlines.give_up_min_s
        )
        self.progress = PROGRESS
        self.consumer = group_consumer(settings.bootstrap, self.group_id)
        self.held: dict[TopicPartition, Held] = {}
        self.due: set[TopicPartition] = set()
        #: Held while a batch is applied and committed, or partitions are taken over: a
        #: revocation waits for it, so a partition is let go of between transactions (as
        #: Kafka Streams commits a task before giving it up).
        self.busy = asyncio.Lock()
        self.messages = 0
        self.answers = 0
        self.snapshots_committed = 0
        self.batches = 0

    # -- what operators see -------------------------------------------------------------------
    @property
    def partitions(self) -> list[int]:
        """The state partitions this worker holds now."""
        return sorted(held.index for held in self.held.values())

    @property
    def open_orders(self) -> int:
        """The orders held by this worker's partitions."""
        return sum(held.shard.open_orders for held in self.held.values())

    @property
    def taken(self) -> dict[int, dict[str, int]]:
        """Per state partition held: the input records it was given to apply, by ``type``
        (since its log began: the counts are in its snapshots)."""
        return {held.index: dict(sorted(held.shard.taken.items())) for held in self.held.values()}

    @property
    def restored_from(self) -> dict[int, int | None]:
        """Per state partition held: the log offset of the snapshot it was restored from."""
        return {held.index: held.restored_from for held in self.held.values()}

    # -- the loop -----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Hold the assigned partitions until ``stop``; rebuild from committed state on a
        failure (:func:`agents.deadlines.keep_rebuilding`)."""
        first = True

        async def attempt() -> None:
            nonlocal first
            if not first:
                self.consumer = group_consumer(self.settings.bootstrap, self.group_id)
                self.held, self.due, self.busy = {}, set(), asyncio.Lock()
            first = False
            await self._run_once(stop)

        await keep_rebuilding(
            "partitions",
            attempt,
            stop,
            self.budget,
            on_restart=lambda: self.progress.emit("restart"),
        )

    async def _run_once(self, stop: asyncio.Event) -> None:
        try:
            await within(self.deadlines.client_s, self.consumer.start(), "starting the consumer")
            self.consumer.subscribe([self.log_topic], listener=_Assignment(self))
            while not stop.is_set():
                if self.due:
                    async with self.busy:
                        await self._take_due()
                await self._step()
        finally:
            await self._let_go(list(self.held))
            await stop_client(self.consumer, self.deadlines.stop_s, "the partition-log consumer")

    async def _kafka(self, step: Any, what: str, seconds: float | None = None) -> Any:
        return await within(seconds or self.deadlines.step_s, step, what)

    async def _step(self) -> None:
        batch = await self._kafka(
            self.consumer.getmany(timeout_ms=100, max_records=2000), "getmany (partition log)"
        )
        async with self.busy:
            for tp, records in batch.items():
                held = self.held.get(tp)
                if held is not None and tp not in self.due:
                    await self._apply(tp, held, records)
        if not batch:
            self.budget.ok()
            self.progress.progressed()

    async def _apply(self, tp: TopicPartition, held: Held, records: list[Any]) -> None:
        """Apply a batch of one partition's log; answer its asks in one transaction."""
        answers: list[bytes] = []
        shard, index = held.shard, held.index
        for record in records:
            if record.offset < held.next_offset:
                continue  # fetched before a seek
            held.next_offset = record.offset + 1
            blob = held.joiner.add(tp, record.value or b"", list(record.headers or ()))
            if blob is None:
                continue  # more frames to come
            try:
                replies = remote.apply_messages(shard, blob)
            except SnapshotError as exc:  # not ours to run: say so once, never retry it
                raise StateRefused(
                    f"state partition {index}: cannot apply {self.log_topic} offset "
                    f"{record.offset}: {exc}. Stop every worker and run `sellerwatch reset`"
                ) from None
            if record.offset >= held.replay_until:
                answers += [remote.encode_answer(index, *reply) for reply in replies]
            self.messages += 1
            held.whole_offset = held.next_offset
        if held.next_offset <= held.replay_until:
            return  # replayed: committed before
        await self._commit(tp, held, answers)
        self.answers += len(answers)

    async def _commit(self, tp: TopicPartition, held: Held, answers: list[bytes]) -> None:
        step = "begin_transaction"

        async def transaction() -> None:
            nonlocal step
            producer = held.producer
            await producer.begin_transaction()
            step = "send (answers)"
            key = str(held.index).encode()
            deliveries = [
                await producer.send(
                    self.answers_topic, key=key, value=value, headers=headers, partition=0
                )
                for answer in answers
                for value, headers in frames(answer)
            ]
            step = "send (snapshot)"
            snapshot = await self._snapshot_step(held)
            deliveries += snapshot
            step = "delivery"
            await asyncio.gather(*deliveries)
            step = "send_offsets_to_transaction"
            await producer.send_offsets_to_transaction({tp: held.next_offset}, self.group_id)
            step = "commit_transaction"
            await producer.commit_transaction()
            if snapshot:  # counted once committed: a cut transaction's snapshot is not in the log
                self.snapshots_committed += 1

        started = time.perf_counter()
        await within(
            self.deadlines.step_s,
            transaction(),
            lambda: f"partition {held.index}: {step}",
            held.producer,
        )
        self.budget.ok()
        self.batches += 1
        self.progress.emit("commit", time.perf_counter() - started)

    async def _snapshot_step(self, held: Held) -> list[Any]:
        """Inside a transaction: commit a finished snapshot of the partition, or fork one."""
        pending = held.pending_snapshot
        if pending is not None and pending.data.done():
            held.pending_snapshot = None
            prefix = f"{held.index}/".encode()
            deliveries = [
                await held.producer.send(self.state_topic, key=prefix + key, value=value)
                for key, value in pending.records()  # raises if the child failed: rebuild
            ]
            return deliveries
        if pending is None and (
            time.monotonic() - held.last_snapshot >= self.settings.snapshot_interval_s
        ):
            # at a whole blob: the restore reads the log from there
            held.pending_snapshot = ForkedSnapshot(held.shard, held.whole_offset)
            held.last_snapshot = time.monotonic()
        return []

    # -- taking partitions over and letting them go ---------------------------------------------
    async def _take_due(self) -> None:
        assigned = self.consumer.assignment()
        due = sorted((tp for tp in self.due if tp in assigned), key=lambda tp: tp.partition)
        self.due.clear()
        if not due:
            return
        snapshots = await self._kafka(
            self._load_snapshots(), "loading the partitions' snapshots", self.deadlines.snapshot_s
        )
        for tp in due:
            await self._take(tp, snapshots.get(tp.partition))

    async def _take(self, tp: TopicPartition, records: dict[bytes, bytes] | None) -> None:
        index = tp.partition
        producer = transactional_producer(
            self.settings.bootstrap, self.topics(f"sellerwatch-partition-{index}"), linger_ms=2
        )
        # Fences the worker that held the partition before, and aborts its open transaction.
        await self._kafka(
            producer.start(), "starting a partition's producer", self.deadlines.client_s
        )
        snapshot = from_records(records) if records else None
        if snapshot is None:
            shard = Shard(self.policy, collect_evaluations=True)
            start = (await self._kafka(self.consumer.beginning_offsets([tp]), "offsets"))[tp]
        else:
            try:
                shard = Shard.restore(snapshot.engine_blob, self.policy)  # type: ignore[assignment]
            except SnapshotError as exc:
                await stop_client(producer, self.deadlines.stop_s, "a partition's producer")
                raise StateRefused(
                    f"cannot restore state partition {index} from {self.state_topic}: {exc}. "
                    "Stop every worker and run `sellerwatch reset`, or start the workers "
                    "with the snapshot's policy"
                ) from None
            start = snapshot.log_offset
        committed = await self._kafka(self.consumer.committed(tp), "committed offsets")
        self.consumer.seek(tp, start)
        restored_from = None if snapshot is None else start
        replay_until = max(start, committed or 0)
        self.held[tp] = Held(index, shard, producer, start, replay_until, start, restored_from)
        log.info(
            "partitions: holding state partition %d (snapshot at %s, replaying to %s)",
            index,
            "none" if snapshot is None else start,
            committed,
        )

    async def _load_snapshots(self) -> dict[int, dict[bytes, bytes]]:
        """The latest record per key of the partitions' snapshot topic, by partition."""

        async def stop(reader: Any) -> None:
            await stop_client(reader, self.deadlines.stop_s, "the snapshot reader")

        latest = await latest_per_key(self.settings.bootstrap, self.state_topic, stop)
        by_partition: dict[int, dict[bytes, bytes]] = {}
        for prefixed, value in latest.items():
            index, _, key = prefixed.partition(b"/")
            if key and index.isdigit():
                by_partition.setdefault(int(index), {})[key] = value
        return by_partition

    async def let_go(self, partitions: list[TopicPartition]) -> None:
        """The group revoked ``partitions``: once the batch in flight is committed, stop
        holding them; the next holder rebuilds each from its snapshot and log."""
        async with self.busy:
            await self._let_go(partitions)

    async def _let_go(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.due.discard(tp)
            held = self.held.pop(tp, None)
            if held is not None:
                held.pending_snapshot = None
                await stop_client(held.producer, self.deadlines.stop_s, "a partition's producer")
                log.info("partitions: let go of state partition %d", held.index)

"""Stage 1: copy every input record into the single-partition engine log, exactly once.

Input partitions are shared by the workers of one consumer group; each batch from ``getmany``
is forwarded raw (no parsing here) in one Kafka transaction together with the consumer offsets,
so a crash neither loses nor doubles a record. The sequencer also writes the markers that decide
the engine's watermark: ``idle`` when a caught-up partition has been silent for the idle timeout
(live), ``eof`` when it reached the end offsets seen at start (``stop_at_end``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition

from agents.clients import group_consumer, send_batched, transactional_producer
from agents.deadlines import Deadlines, RebuildBudget, keep_rebuilding, stop_client, within
from agents.envelope import EVENT, headers, source_id
from agents.partition_watch import PartitionWatch
from agents.settings import Settings
from agents.topics import ENGINE_LOG, Topics

log = logging.getLogger(__name__)


class _Assignments(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, sequencer: Sequencer) -> None:
        self.sequencer = sequencer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.sequencer.watch.revoked(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self.sequencer.watch.assigned(self.sequencer.consumer, assigned)


class Sequencer:
    """Forwards input records to the engine log in per-partition order."""

    def __init__(
        self,
        settings: Settings,
        *,
        stop_at_end: bool = False,
        deadlines: Deadlines | None = None,
    ) -> None:
        """A sequencer; with ``stop_at_end`` it marks partitions read to their end."""
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.group_id = self.topics("sellerwatch-sequencer")
        self.stop_at_end = stop_at_end
        self.deadlines = deadlines or Deadlines.from_env()
        self.budget = RebuildBudget(
            self.deadlines.give_up_after, min_s=self.deadlines.give_up_min_s
        )
        self._connect()
        self.forwarded = 0
        self.txn_step = "begin_transaction"

    def _connect(self) -> None:
        """Fresh clients: a rebuilt sequencer starts from the committed offsets."""
        self.consumer = group_consumer(self.settings.bootstrap, self.group_id)
        self.producer = transactional_producer(
            self.settings.bootstrap,
            self.topics(f"sellerwatch-sequencer-{self.settings.instance}"),
        )
        self.watch = PartitionWatch(self.settings.idle_timeout_ms, stop_at_end=self.stop_at_end)

    async def run(self, stop: asyncio.Event) -> None:
        """Forward until ``stop`` is set; rebuild after a failure or a missed deadline."""
        first = True

        async def attempt() -> None:
            nonlocal first
            if not first:
                self._connect()
            first = False
            await self._run_once(stop)

        await keep_rebuilding("sequencer", attempt, stop, self.budget)

    async def _run_once(self, stop: asyncio.Event) -> None:
        step_s, producer, consumer = self.deadlines.step_s, self.producer, self.consumer
        log_topic = self.topics(ENGINE_LOG)
        try:
            await within(self.deadlines.client_s, producer.start(), "starting the producer")
            await within(self.deadlines.client_s, consumer.start(), "starting the consumer")
            consumer.subscribe(self.topics.inputs(), listener=_Assignments(self))
            while not stop.is_set():
                batch = await within(
                    step_s,
                    consumer.getmany(timeout_ms=100, max_records=50_000),
                    "getmany",
                    producer,
                )
                markers = await within(
                    step_s, self.watch.due(consumer, batch), "checking idle inputs", producer
                )
                if not batch and not markers:
                    self.budget.ok()
                    continue
                await within(
                    step_s,
                    self._forward(producer, log_topic, batch, markers),
                    lambda: self.txn_step,
                    producer,
                )
                self.budget.ok()
                self.forwarded += sum(len(messages) for messages in batch.values())
        finally:
            await stop_client(consumer, self.deadlines.stop_s, "the sequencer's consumer")
            await stop_client(producer, self.deadlines.stop_s, "the sequencer's producer")

    async def _forward(
        self,
        producer: Any,
        log_topic: str,
        batch: dict[TopicPartition, list[Any]],
        markers: list[tuple[bytes, TopicPartition]],
    ) -> None:
        """One transaction: the batch and the markers into the log, with the input offsets.

        No abort on failure: the rebuilt sequencer's producer (same id) fences this one. The
        log's batches are delivered before the commit (aiokafka would commit without a failed
        one: see :meth:`agents.engine_runner.EngineRunner._transaction`).
        """
        self.txn_step = "begin_transaction"
        await producer.begin_transaction()
        self.txn_step = "send"
        offsets = {tp: messages[-1].offset + 1 for tp, messages in batch.items()}
        deliveries = await send_batched(producer, log_topic, 0, self._log_records(batch, markers))
        self.txn_step = "delivery of the log records"
        await asyncio.gather(*deliveries)
        if offsets:
            self.txn_step = "send_offsets_to_transaction"
            await producer.send_offsets_to_transaction(offsets, self.group_id)
        self.txn_step = "commit_transaction"
        await producer.commit_transaction()

    def _log_records(
        self,
        batch: dict[TopicPartition, list[Any]],
        markers: list[tuple[bytes, TopicPartition]],
    ) -> Iterator[tuple[None, bytes, list[tuple[str, bytes]]]]:
        """The batch's records (raw, with their source in headers), then the markers."""
        for tp, messages in batch.items():
            source = source_id(self.topics.unprefixed(tp.topic), tp.partition)
            for message in messages:
                yield None, message.value, headers(EVENT, source, message.offset)
        for kind, tp in markers:
            yield (
                None,
                b"",
                headers(kind, source_id(self.topics.unprefixed(tp.topic), tp.partition), -1),
            )

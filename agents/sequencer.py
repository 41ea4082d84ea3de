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

    def __init__(self, settings: Settings, *, stop_at_end: bool = False) -> None:
        """A sequencer; with ``stop_at_end`` it marks partitions read to their end."""
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.group_id = self.topics("sellerwatch-sequencer")
        self.consumer = group_consumer(settings.bootstrap, self.group_id)
        self.producer = transactional_producer(
            settings.bootstrap, self.topics(f"sellerwatch-sequencer-{settings.instance}")
        )
        self.watch = PartitionWatch(settings.idle_timeout_ms, stop_at_end=stop_at_end)
        self.forwarded = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Forward until ``stop`` is set."""
        await self.producer.start()
        await self.consumer.start()
        self.consumer.subscribe(self.topics.inputs(), listener=_Assignments(self))
        log_topic = self.topics(ENGINE_LOG)
        try:
            while not stop.is_set():
                batch = await self.consumer.getmany(timeout_ms=100, max_records=50_000)
                markers = await self.watch.due(self.consumer, batch)
                if not batch and not markers:
                    continue
                async with self.producer.transaction():
                    offsets = {tp: messages[-1].offset + 1 for tp, messages in batch.items()}
                    records = self._log_records(batch, markers)
                    await send_batched(self.producer, log_topic, 0, records)
                    if offsets:
                        await self.producer.send_offsets_to_transaction(offsets, self.group_id)
                self.forwarded += sum(len(messages) for messages in batch.values())
        finally:
            await self.consumer.stop()
            await self.producer.stop()

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

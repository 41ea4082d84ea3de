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
import time

from aiokafka import ConsumerRebalanceListener, TopicPartition

from agents.clients import group_consumer, transactional_producer
from agents.envelope import EOF, EVENT, IDLE, headers, source_id
from agents.settings import Settings
from agents.topics import ENGINE_LOG, Topics

log = logging.getLogger(__name__)


class _Assignments(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, sequencer: Sequencer) -> None:
        self.sequencer = sequencer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            self.sequencer.quiet_since.pop(tp, None)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        now = time.monotonic()
        for tp in assigned:
            self.sequencer.quiet_since[tp] = now
            self.sequencer.marked.discard(tp)
        if self.sequencer.stop_at_end and assigned:
            ends = await self.sequencer.consumer.end_offsets(assigned)
            self.sequencer.end_offsets.update(ends)


class Sequencer:
    """Forwards input records to the engine log in per-partition order."""

    def __init__(self, settings: Settings, *, stop_at_end: bool = False) -> None:
        """A sequencer; with ``stop_at_end`` it marks partitions read to their end."""
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.stop_at_end = stop_at_end
        self.group_id = self.topics("sellerwatch-sequencer")
        self.consumer = group_consumer(settings.bootstrap, self.group_id)
        self.producer = transactional_producer(
            settings.bootstrap, self.topics(f"sellerwatch-sequencer-{settings.instance}")
        )
        self.quiet_since: dict[TopicPartition, float] = {}
        self.marked: set[TopicPartition] = set()
        self.end_offsets: dict[TopicPartition, int] = {}
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
                markers = await self._markers(batch)
                if not batch and not markers:
                    continue
                async with self.producer.transaction():
                    offsets: dict[TopicPartition, int] = {}
                    # Record batches built by hand: one accumulator call per ~1 MB, not per record.
                    builder = self.producer.create_batch()
                    for tp, messages in batch.items():
                        source = source_id(self.topics.unprefixed(tp.topic), tp.partition)
                        for message in messages:
                            entry = headers(EVENT, source, message.offset)
                            if (
                                builder.append(
                                    key=None, value=message.value, timestamp=None, headers=entry
                                )
                                is None
                            ):
                                await self.producer.send_batch(builder, log_topic, partition=0)
                                builder = self.producer.create_batch()
                                builder.append(
                                    key=None, value=message.value, timestamp=None, headers=entry
                                )
                        offsets[tp] = messages[-1].offset + 1
                        self.forwarded += len(messages)
                    for kind, tp in markers:
                        source = source_id(self.topics.unprefixed(tp.topic), tp.partition)
                        entry = headers(kind, source, -1)
                        if (
                            builder.append(key=None, value=b"", timestamp=None, headers=entry)
                            is None
                        ):
                            await self.producer.send_batch(builder, log_topic, partition=0)
                            builder = self.producer.create_batch()
                            builder.append(key=None, value=b"", timestamp=None, headers=entry)
                    if builder.record_count():
                        await self.producer.send_batch(builder, log_topic, partition=0)
                    if offsets:
                        await self.producer.send_offsets_to_transaction(offsets, self.group_id)
        finally:
            await self.consumer.stop()
            await self.producer.stop()

    async def _markers(
        self, batch: dict[TopicPartition, list[object]]
    ) -> list[tuple[bytes, TopicPartition]]:
        """Idle and end-of-partition markers due after this batch."""
        now = time.monotonic()
        markers = []
        for tp in list(self.quiet_since):
            if batch.get(tp):
                self.quiet_since[tp] = now
                if tp in self.marked and not self.stop_at_end:
                    self.marked.discard(tp)  # it has data again: it holds time back again
                continue
            if tp in self.marked:
                continue
            if tp not in self.consumer.assignment():
                continue
            if self.stop_at_end:
                end = self.end_offsets.get(tp)
                if end is not None and await self.consumer.position(tp) >= end:
                    markers.append((EOF, tp))
                    self.marked.add(tp)
            elif now - self.quiet_since[tp] > self.settings.idle_timeout_ms / 1000:
                stable = self.consumer.last_stable_offset(tp)
                if stable is None or await self.consumer.position(tp) >= stable:
                    markers.append((IDLE, tp))
                    self.marked.add(tp)
        return markers

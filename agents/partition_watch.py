"""When an input partition stops holding the watermark back: idle (live) or read to its end.

The engine applies these decisions and records them in its decision log, so a restarted engine
replays them instead of asking the wall clock again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from sellerwatch.agents.envelope import EOF, IDLE


class PartitionWatch:
    """Tracks the assigned input partitions' silence and their end offsets."""

    def __init__(self, idle_timeout_ms: int, *, stop_at_end: bool = False) -> None:
        """A watch; with ``stop_at_end`` it marks partitions at the end offsets seen at start."""
        self.idle_timeout_s = idle_timeout_ms / 1000
        self.stop_at_end = stop_at_end
        self.quiet_since: dict[TopicPartition, float] = {}
        self.marked: set[TopicPartition] = set()
        self.end_offsets: dict[TopicPartition, int] = {}

    async def assigned(
        self, consumer: AIOKafkaConsumer, partitions: Iterable[TopicPartition]
    ) -> None:
        """Start watching ``partitions`` (newly assigned to ``consumer``)."""
        now = time.monotonic()
        partitions = list(partitions)
        for tp in partitions:
            self.quiet_since[tp] = now
            self.marked.discard(tp)
        if self.stop_at_end and partitions:
            self.end_offsets.update(await consumer.end_offsets(partitions))

    def revoked(self, partitions: Iterable[TopicPartition]) -> None:
        """Stop watching ``partitions``."""
        for tp in partitions:
            self.quiet_since.pop(tp, None)

    async def due(
        self, consumer: AIOKafkaConsumer, batch: Mapping[TopicPartition, Sequence[Any]]
    ) -> list[tuple[bytes, TopicPartition]]:
        """``(IDLE or EOF, partition)`` markers due after ``batch``."""
        now = time.monotonic()
        markers = []
        assigned, paused = consumer.assignment(), consumer.paused()
        for tp in list(self.quiet_since):
            if batch.get(tp):
                self.quiet_since[tp] = now
                if tp in self.marked and not self.stop_at_end:
                    self.marked.discard(tp)  # it has data again: it holds time back again
                continue
            if tp in self.marked or tp not in assigned:
                continue
            if tp in paused:
                # Held back on purpose (ahead of W, agents/read_ahead.py): not silent.
                self.quiet_since[tp] = now
                continue
            if self.stop_at_end:
                end = self.end_offsets.get(tp)
                if end is not None and await consumer.position(tp) >= end:
                    markers.append((EOF, tp))
                    self.marked.add(tp)
            elif now - self.quiet_since[tp] > self.idle_timeout_s:
                stable = consumer.last_stable_offset(tp)
                if stable is None or await consumer.position(tp) >= stable:
                    markers.append((IDLE, tp))
                    self.marked.add(tp)
        return markers

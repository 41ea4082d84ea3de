"""Read the input topics' history once, from the earliest offsets to the ends seen at start.

The reader behind ``backtest`` and ``compare --from-topics``: each input partition is its own
watermark input (``source_id``), finished when read to its end. Nothing is committed and no
group is joined, so any number of readers run beside the live worker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from sellerwatch.agents.envelope import source_id
from sellerwatch.agents.kafka_security import client_options, start_client
from sellerwatch.agents.topics import Topics, input_partitions


@dataclass(frozen=True)
class Assigned:
    """The watermark inputs: one per input partition (first step)."""

    sources: list[str]


@dataclass(frozen=True)
class Records:
    """A batch of one partition's record values, in offset order."""

    source: str
    values: list[bytes]


@dataclass(frozen=True)
class Ended:
    """A partition was read to the end offset seen at start."""

    source: str


#: A step of the history (:meth:`HistoryReader.steps`); ``None`` closes each fetch.
Step = Assigned | Records | Ended | None


class HistoryReader:
    """One pass over the inputs of ``prefix`` on ``bootstrap``."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        """Nothing read yet."""
        self.bootstrap = bootstrap
        self.topics = Topics(prefix)
        #: some partition no longer starts at offset 0 (retention deleted records)
        self.truncated = False
        #: the smallest ``ts`` among the first records of the partitions
        self.earliest: int | None = None

    async def steps(self) -> AsyncIterator[Step]:
        """The history as steps; raises ``RuntimeError`` when there are no input topics."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            isolation_level="read_committed",
            max_partition_fetch_bytes=1024 * 1024,
            fetch_max_bytes=32 * 1024 * 1024,
            **client_options(),
        )
        await start_client(consumer, self.bootstrap)
        try:
            found = await input_partitions(self.bootstrap, self.topics)
            partitions = [TopicPartition(t, p) for t, p in found]
            if not partitions:
                prefix = self.topics.prefix
                raise RuntimeError(f"no input topics with prefix {prefix!r} on {self.bootstrap}")
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            sources = {
                tp: source_id(self.topics.unprefixed(tp.topic), tp.partition) for tp in partitions
            }
            yield Assigned(list(sources.values()))
            remaining = set()
            for tp in partitions:
                position = await consumer.position(tp)
                self.truncated = self.truncated or position > 0
                if ends[tp] <= position:
                    yield Ended(sources[tp])
                else:
                    remaining.add(tp)
            first_seen: set[TopicPartition] = set()
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=500, max_records=50_000)
                for tp, records in batch.items():
                    if tp not in first_seen and records:
                        first_seen.add(tp)
                        self.earliest = _min_ts(self.earliest, records[0].value)
                    yield Records(sources[tp], [record.value or b"" for record in records])
                for tp in list(remaining):
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
                        yield Ended(sources[tp])
                yield None
        finally:
            await consumer.stop()


def _min_ts(current: int | None, raw: bytes | None) -> int | None:
    """The smaller of ``current`` and the record's ``ts`` (a record without one is skipped)."""
    try:
        ts = orjson.loads(raw or b"").get("ts")
    except (orjson.JSONDecodeError, AttributeError):
        return current
    if not isinstance(ts, int) or isinstance(ts, bool):
        return current
    return ts if current is None else min(current, ts)


async def feed(reader: HistoryReader, sink: HistorySink, decode: Any) -> None:
    """Every step of ``reader`` into ``sink``: ``decode(raw)`` per record, then
    ``sink.feed(decoded, source)``; ``sink.collect()`` after each fetch."""
    async for step in reader.steps():
        if step is None:
            sink.collect()
        elif type(step) is Records:
            source = step.source
            for value in step.values:
                sink.feed(decode(value), source)
        elif type(step) is Ended:
            sink.end(step.source)
        elif type(step) is Assigned:
            sink.assign(step.sources)


class HistorySink(Protocol):
    """What :func:`feed` drives (``sellerwatch.compare.Comparing``)."""

    def assign(self, sources: list[str]) -> None: ...  # noqa: D102 - as the engine's

    def feed(self, decoded: Any, source: object) -> None: ...  # noqa: D102

    def end(self, source: object) -> None: ...  # noqa: D102

    def collect(self) -> None: ...  # noqa: D102

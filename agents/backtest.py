"""``sellerwatch backtest --from-topics``: replay historical topics through the core, then stop.

A fresh reader takes every input partition from its earliest offset up to the end offsets seen
at start; each partition is its own watermark input and is finished when read to its end, and
when all are, the input is finished (SPEC §1.1: ``W = max_ts_seen``). Nothing is committed, so
any number of backtests can run beside the live worker.
"""

from __future__ import annotations

from typing import IO

from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.envelope import source_id
from agents.topics import Topics, input_partitions
from schemas.verdict import encode
from streams.engine import Engine
from streams.policy import Policy


async def backtest(
    bootstrap: str, prefix: str, out: IO[bytes], policy: Policy | None = None
) -> Engine:
    """Run the topics' history through a fresh engine; verdicts go to ``out`` as JSONL."""
    topics = Topics(prefix)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=1024 * 1024,
        fetch_max_bytes=32 * 1024 * 1024,
    )
    await consumer.start()
    engine = Engine(policy)
    try:
        partitions = [TopicPartition(t, p) for t, p in await input_partitions(bootstrap, topics)]
        if not partitions:
            raise RuntimeError(f"no input topics with prefix {prefix!r} on {bootstrap}")
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        sources = {tp: source_id(topics.unprefixed(tp.topic), tp.partition) for tp in partitions}
        engine.assign(list(sources.values()))
        remaining = set()
        for tp in partitions:
            if ends[tp] <= await consumer.position(tp):
                engine.finish_partition(sources[tp])
            else:
                remaining.add(tp)
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=500, max_records=50_000)
            for tp, records in batch.items():
                source = sources[tp]
                for record in records:
                    engine.accept_raw(record.value or b"", source)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
                    engine.finish_partition(sources[tp])
            _write(out, engine)
        engine.finish()
        _write(out, engine)
    finally:
        await consumer.stop()
    return engine


def _write(out: IO[bytes], engine: Engine) -> None:
    verdicts = engine.take_verdicts()
    if verdicts:
        out.write(b"".join(encode(v) + b"\n" for v in verdicts))

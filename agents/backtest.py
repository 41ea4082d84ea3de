"""``sellerwatch backtest --from-topics``: replay historical topics through the core, then stop.

A fresh reader takes every input partition from its earliest offset up to the end offsets seen
at start; each partition is its own watermark input and is finished when read to its end, and
when all are, the input is finished (SPEC §1.1: ``W = max_ts_seen``). Nothing is committed, so
any number of backtests can run beside the live worker.

When retention has already deleted the start of the inputs, the first verdicts read windows
with a hole at their beginning: the run says so on stderr (:func:`retention_warning`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.envelope import source_id
from agents.kafka_security import client_options, start_client
from agents.settings import DAY_MS, longest_window_ms
from agents.topics import Topics, input_partitions
from schemas.verdict import encode
from streams.engine import Engine
from streams.policy import Policy


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")


async def backtest(
    bootstrap: str,
    prefix: str,
    out: IO[bytes],
    policy: Policy | None = None,
    warn: Callable[[str], None] = _stderr,
    evidence: IO[bytes] | None = None,
    warnings: IO[bytes] | None = None,
) -> Engine:
    """Run the topics' history through a fresh engine; verdicts go to ``out`` as JSONL, the
    orders behind each to ``evidence`` and early warnings to ``warnings`` when given."""
    topics = Topics(prefix)
    policy = policy or Policy()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=1024 * 1024,
        fetch_max_bytes=32 * 1024 * 1024,
        **client_options(),
    )
    await start_client(consumer, bootstrap)
    engine = Engine(
        policy, collect_evidence=evidence is not None, collect_warnings=warnings is not None
    )
    try:
        partitions = [TopicPartition(t, p) for t, p in await input_partitions(bootstrap, topics)]
        if not partitions:
            raise RuntimeError(f"no input topics with prefix {prefix!r} on {bootstrap}")
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        sources = {tp: source_id(topics.unprefixed(tp.topic), tp.partition) for tp in partitions}
        engine.assign(list(sources.values()))
        truncated = False
        remaining = set()
        for tp in partitions:
            position = await consumer.position(tp)
            truncated = truncated or position > 0  # retention (or DeleteRecords) removed some
            if ends[tp] <= position:
                engine.finish_partition(sources[tp])
            else:
                remaining.add(tp)
        first_seen: set[TopicPartition] = set()
        earliest: int | None = None
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=500, max_records=50_000)
            for tp, records in batch.items():
                source = sources[tp]
                if tp not in first_seen and records:
                    first_seen.add(tp)
                    earliest = _min_ts(earliest, records[0].value)
                for record in records:
                    engine.accept_raw(record.value or b"", source)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
                    engine.finish_partition(sources[tp])
            _write(out, engine, evidence, warnings)
        engine.finish()
        _write(out, engine, evidence, warnings)
    finally:
        await consumer.stop()
    message = retention_warning(truncated, earliest, engine.watermark, policy)
    if message:
        warn(message)
    return engine


def _min_ts(current: int | None, raw: bytes | None) -> int | None:
    """The smaller of ``current`` and the record's ``ts`` (a record without one is skipped)."""
    try:
        ts = orjson.loads(raw or b"").get("ts")
    except (orjson.JSONDecodeError, AttributeError):
        return current
    if not isinstance(ts, int) or isinstance(ts, bool):
        return current
    return ts if current is None else min(current, ts)


def retention_warning(
    truncated: bool, earliest_ts: int | None, watermark: int | None, policy: Policy
) -> str | None:
    """A warning when retention deleted records and what is left is shorter than a window.

    ``truncated``: some input partition no longer starts at offset 0. The policy's longest
    window (``agents.settings.longest_window_ms``) is what a verdict may read back.
    """
    if not truncated or earliest_ts is None or watermark is None:
        return None
    window = longest_window_ms(policy)
    held = watermark - earliest_ts
    if held >= window:
        return None

    def day(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")

    return (
        f"backtest: warning: the input topics hold only {held / DAY_MS:.1f} days "
        f"({day(earliest_ts)} to {day(watermark)}; older records were deleted by retention), "
        f"but the policy's rules read {window // DAY_MS} days: verdicts may differ from a "
        "replay of the full history (raise SELLERWATCH_INPUT_RETENTION, docs/operations.md)"
    )


def _write(
    out: IO[bytes], engine: Engine, evidence: IO[bytes] | None, warnings: IO[bytes] | None
) -> None:
    verdicts = engine.take_verdicts()
    if verdicts:
        out.write(b"".join(encode(v) + b"\n" for v in verdicts))
    if evidence is not None:
        records = engine.take_evidence()
        if records:
            evidence.write(b"".join(encode(e) + b"\n" for e in records))
    if warnings is not None:
        foreseen = engine.take_warnings()
        if foreseen:
            warnings.write(b"".join(encode(w) + b"\n" for w in foreseen))

"""``sellerwatch rebuild-read-model``: fill the Redis read model again from the output topics.

The read model is derived state: the latest verdict and figures per shop and item, written by
the engine owner after each commit. Redis without persistence loses it on a restart, and a worker
killed before it wrote what it committed leaves a gap its successor cannot always fill (it
reports it: :mod:`agents.readmodel`). Both are mended by reading it back from Kafka, where
every verdict (``verdicts.*``, 52 weeks) and every evaluation's figures
(``sellerwatch.metrics``, 1 week) are committed:

- the verdicts of every kind's topic: per read-model field, the one the engine published last
  (by instant, rule, subject, kind, period: :func:`streams.partitioned.publication_order`), so
  the latest verdict of a kind about any of a shop's items is the one the worker wrote;
- the figures in the metrics topic's order (one partition: commit order).

Then they are written as the worker writes them (:class:`ReadModel`), latest value winning. Run
it with the workers stopped: a live worker's newer write could otherwise be overwritten by an
older one read here.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from sellerwatch.agents.cli import kafka_arguments
from sellerwatch.agents.deadlines import describe
from sellerwatch.agents.kafka_security import client_options, start_client
from sellerwatch.agents.readmodel import ReadModel, evaluation_field, verdict_fields
from sellerwatch.agents.reset import ENGINE_GROUPS, ResetError, refuse_if_running
from sellerwatch.agents.topics import ENGINE_LOG, METRICS, Topics
from sellerwatch.schemas.verdict import Evaluation, Verdict, decode_evaluation, decode_verdict
from sellerwatch.streams.partitioned import publication_order

log = logging.getLogger(__name__)
#: How long the rebuild may wait for Redis to take what it read.
WRITE_TIMEOUT_S = 120.0
#: How long reading a partition may make no progress before the rebuild gives up.
STALL_S = 60.0


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild read and wrote."""

    verdicts: int
    evaluations: int
    keys: int


async def _batches(
    consumer: AIOKafkaConsumer, topics: dict[str, set[int]]
) -> AsyncIterator[tuple[str, list[bytes]]]:
    """The committed record values of ``topics`` (name: partitions) up to the ends seen at
    start, in batches: partition after partition, each in offset order."""
    partitions = [TopicPartition(topic, p) for topic, ids in topics.items() for p in sorted(ids)]
    if not partitions:
        return
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    ends = await consumer.end_offsets(partitions)
    for tp in partitions:
        moved = time.monotonic()
        while (position := await consumer.position(tp)) < ends[tp]:
            batch = await consumer.getmany(tp, timeout_ms=1000, max_records=50_000)
            if await consumer.position(tp) > position:
                moved = time.monotonic()
            elif time.monotonic() - moved > STALL_S:
                raise ResetError(
                    f"{tp.topic}[{tp.partition}] has not moved past offset {position} (of "
                    f"{ends[tp]}) for {STALL_S:.0f}s: is the broker reachable?"
                )
            yield tp.topic, [r.value for r in batch.get(tp, []) if r.value is not None]


class LatestVerdicts:
    """Of the verdicts read back, per read-model field, the one published last: what the
    worker's writes left there. Memory grows with the fields, not with the history."""

    def __init__(self, prefix: str) -> None:
        """Nothing read yet."""
        self.prefix = prefix
        self.latest: dict[tuple[str, str], tuple[tuple[Any, ...], Verdict]] = {}
        self.read = 0

    def add(self, verdict: Verdict) -> None:
        """A verdict read back, in any order."""
        self.read += 1
        place = publication_order(verdict)
        latest = self.latest
        for field in verdict_fields(self.prefix, verdict):
            held = latest.get(field)
            if held is None or held[0] < place:
                latest[field] = (place, verdict)

    def in_published_order(self) -> list[Verdict]:
        """The verdicts left in some field, in the order the engine published them: written in
        this order, each field ends with its own latest."""
        kept = {id(v): (place, v) for place, v in self.latest.values()}
        return [v for _, v in sorted(kept.values(), key=lambda pair: pair[0])]


@dataclass(frozen=True)
class ReadBack:
    """What the output topics say the read model holds: per field, its latest value."""

    verdicts: list[Verdict]
    figures: list[Evaluation]
    verdicts_read: int
    figures_read: int

    def keys(self, prefix: str) -> int:
        """The read-model keys (hashes) these fill."""
        keys = {evaluation_field(prefix, e)[0] for e in self.figures}
        keys.update(key for v in self.verdicts for key, _ in verdict_fields(prefix, v))
        return len(keys)


async def read_back(bootstrap: str, prefix: str, *, refuse_running: bool = True) -> ReadBack:
    """Read the committed verdicts and figures of ``prefix`` up to the ends seen at start;
    with ``refuse_running``, refuse while a worker of the prefix runs."""
    named = Topics(prefix)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        **client_options(),
    )
    verdicts = LatestVerdicts(prefix)
    figures: dict[tuple[str, str], Evaluation] = {}
    figures_read = 0
    await start_client(consumer, bootstrap)
    try:
        cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001 - no public call
        if refuse_running and named(ENGINE_LOG) in cluster.topics():  # none may run now
            await refuse_if_running(bootstrap, [named(g) for g in ENGINE_GROUPS], named)
        wanted = {
            topic: cluster.partitions_for_topic(topic) or set()
            for topic in [*named.verdicts(), named(METRICS)]
        }
        metrics = named(METRICS)
        async for topic, values in _batches(consumer, wanted):
            if topic == metrics:  # one partition, read in commit order: latest wins
                for raw in values:
                    evaluation = decode_evaluation(raw)
                    figures[evaluation_field(prefix, evaluation)] = evaluation
                figures_read += len(values)
            else:
                for raw in values:
                    verdicts.add(decode_verdict(raw))
            await asyncio.sleep(0)  # in a live worker: let the engine run between batches
    finally:
        await consumer.stop()
    return ReadBack(
        verdicts.in_published_order(), list(figures.values()), verdicts.read, figures_read
    )


async def refill(model: ReadModel, bootstrap: str, prefix: str, attempts: int = 3) -> bool:
    """In the engine owner: fill a gap of its read model from the output topics while it
    runs (what it submits meanwhile is newer and keeps its fields: ``ReadModel.begin_refill``);
    whether it did. Cancelled when the worker gives up the engine."""
    for attempt in range(1, attempts + 1):
        model.begin_refill()
        started = time.monotonic()
        try:
            back = await read_back(bootstrap, prefix, refuse_running=False)
        except asyncio.CancelledError:
            model.abandon_refill()
            raise
        except Exception as exc:  # noqa: BLE001 - the gap stays reported; the engine runs on
            model.abandon_refill()
            log.warning(
                "redis read model: reading the output topics back failed (%s), attempt %d of %d",
                describe(exc),
                attempt,
                attempts,
            )
            await asyncio.sleep(10.0 * attempt)
            continue
        model.finish_refill(back.verdicts, back.figures)
        log.warning(
            "redis read model: read back %d verdicts and %d figures in %.1fs to fill the gap",
            back.verdicts_read,
            back.figures_read,
            time.monotonic() - started,
        )
        return True
    log.error(
        "redis read model: the gap stays; stop the workers and run `sellerwatch rebuild-read-model`"
    )
    return False


async def rebuild(bootstrap: str, prefix: str, redis_url: str) -> Rebuilt:
    """Read the verdicts and figures of ``prefix`` and write them into the read model."""
    model = ReadModel(redis_url, prefix)
    try:
        back = await read_back(bootstrap, prefix)
        model.submit(back.verdicts, back.figures)
        if not await model.flushed(WRITE_TIMEOUT_S):
            raise ResetError(f"Redis at {redis_url} took no write for {WRITE_TIMEOUT_S:.0f}s")
        await model.mark_rebuilt()  # the next engine owner counts Redis as complete
    finally:
        await model.close()
    return Rebuilt(back.verdicts_read, back.figures_read, back.keys(prefix))


def cmd_rebuild_read_model(args: argparse.Namespace) -> int:
    """Run :func:`rebuild` and report; a one-line error on failure."""
    from sellerwatch.agents.settings import Settings

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # its retries: our line says it
    settings = Settings()
    bootstrap = args.bootstrap or settings.bootstrap
    prefix = settings.topic_prefix if args.topic_prefix is None else args.topic_prefix
    redis_url = args.redis or settings.redis_url
    if not redis_url:
        sys.stderr.write("sellerwatch: error: no Redis configured (SELLERWATCH_REDIS_URL)\n")
        return 2
    try:
        done = asyncio.run(rebuild(bootstrap, prefix, redis_url))
    except ResetError as exc:
        sys.stderr.write(f"sellerwatch: error: {exc}\n")
        return 2
    except (OSError, TimeoutError) as exc:
        sys.stderr.write(
            f"sellerwatch: error: cannot reach Kafka at {bootstrap} "
            f"(SELLERWATCH_BOOTSTRAP / --bootstrap): {exc or type(exc).__name__}\n"
        )
        return 2
    sys.stderr.write(
        f"rebuild-read-model: {done.verdicts} verdicts and {done.evaluations} figures of prefix "
        f"{prefix!r} written to {done.keys} keys\n"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``rebuild-read-model``."""
    parser = sub.add_parser(
        "rebuild-read-model",
        help="write the Redis read model again from the verdict and metrics topics "
        "(after Redis lost it; workers stopped)",
    )
    kafka_arguments(parser)
    parser.add_argument("--redis", help="Redis URL (env SELLERWATCH_REDIS_URL)")
    parser.set_defaults(func=cmd_rebuild_read_model)

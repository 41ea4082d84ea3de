"""``sellerwatch reset``: forget the engine's state so the next worker rebuilds it from the inputs.

Like Kafka Streams' application reset tool: the workers of the prefix must be stopped; the
engine's internal topics (snapshots, the engine log, and the partition workers' log, answers and
snapshots) are deleted and created empty, and the engine's consumer groups are moved back to
the start of the input and log partitions. The next
worker replays the inputs that retention still holds (default 35 days, ``docs/operations.md``)
under the policy it is given. Verdict topics are kept: the rebuilt verdicts carry the same
``verdict_id``s, so downstream consumers that apply them idempotently see no change.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sellerwatch.agents.kafka_security import client_options
from sellerwatch.agents.topics import (
    ENGINE_LOG,
    ENGINE_STATE,
    PARTITION_ANSWERS,
    PARTITION_LOG,
    PARTITION_STATE,
    Topics,
    ensure_topics,
)

#: The consumer groups whose offsets describe the engine's progress: the engine owner's (or
#: coordinator's), the partition workers', and the sequencer's of the removed sequenced feed,
#: so that a reset also clears what an old deployment left.
ENGINE_GROUPS = ("sellerwatch-engine", "sellerwatch-sequencer", "sellerwatch-partitions")


class ResetError(RuntimeError):
    """The reset cannot be done (workers still running, broker unreachable)."""


@asynccontextmanager
async def _outside_consumer(bootstrap: str, group_id: str) -> AsyncIterator[Any]:
    """A consumer that commits for ``group_id`` without joining it (generation -1)."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False, **client_options()
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def refuse_if_running(bootstrap: str, groups: list[str], topics: Topics) -> None:
    """Refuse while any worker is a member of the engine groups.

    The broker accepts an offset commit from outside a group (generation -1) only while the
    group is empty, so a commit of the log's current position is the check itself (aiokafka's
    DescribeGroups decoding fails on some member metadata, so it is not used).
    """
    from aiokafka import TopicPartition
    from aiokafka.errors import KafkaError
    from aiokafka.structs import OffsetAndMetadata

    log_tp = TopicPartition(topics(ENGINE_LOG), 0)
    for group in groups:
        async with _outside_consumer(bootstrap, group) as consumer:
            consumer.assign([log_tp])
            position = await consumer.committed(log_tp)
            if position is None:
                position = (await consumer.beginning_offsets([log_tp]))[log_tp]
            try:
                await consumer.commit({log_tp: OffsetAndMetadata(position, "")})
            except KafkaError as exc:
                raise ResetError(
                    f"stop every worker of prefix {topics.prefix!r} first: group {group} has "
                    f"active members (the broker refused a commit from outside it: "
                    f"{type(exc).__name__}; a killed worker's membership ends after the "
                    "session timeout, about 10 s)"
                ) from None


async def _wait_deleted(admin: Any, names: list[str], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while set(names) & set(await admin.list_topics()):
        if time.monotonic() > deadline:
            raise ResetError(f"the broker did not delete {names} within {timeout_s:.0f}s")
        await asyncio.sleep(0.5)


async def _rewind_group(bootstrap: str, group_id: str, topics: Topics) -> int:
    """Commit the beginning of every input partition, of the engine log and of the partition
    log and answers for ``group_id``."""
    from aiokafka import TopicPartition
    from aiokafka.structs import OffsetAndMetadata

    from sellerwatch.agents.topics import input_partitions

    async with _outside_consumer(bootstrap, group_id) as consumer:
        found = await input_partitions(bootstrap, topics)
        partitions = [TopicPartition(t, p) for t, p in found]
        partitions.append(TopicPartition(topics(ENGINE_LOG), 0))
        partitions.append(TopicPartition(topics(PARTITION_ANSWERS), 0))
        metadata = await consumer._client.fetch_all_metadata()  # noqa: SLF001 - no public call
        log = topics(PARTITION_LOG)
        partitions += [TopicPartition(log, p) for p in metadata.partitions_for_topic(log) or ()]
        consumer.assign(partitions)
        beginnings = await consumer.beginning_offsets(partitions)
        await consumer.commit({tp: OffsetAndMetadata(beginnings[tp], "") for tp in partitions})
        return len(partitions)


async def reset(bootstrap: str, prefix: str, input_partitions: int) -> list[str]:
    """Reset the engine state of ``prefix``; returns what was done, a line each."""
    from aiokafka.admin import AIOKafkaAdminClient

    topics = Topics(prefix)
    groups = [topics(g) for g in ENGINE_GROUPS]
    internal = [
        topics(ENGINE_STATE),
        topics(ENGINE_LOG),
        topics(PARTITION_LOG),
        topics(PARTITION_ANSWERS),
        topics(PARTITION_STATE),
    ]
    done: list[str] = []
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    await admin.start()
    try:
        existing = [t for t in internal if t in set(await admin.list_topics())]
        if existing:  # no internal topic: no worker ever ran, nothing to refuse
            await refuse_if_running(bootstrap, groups, topics)
            await admin.delete_topics(existing)
            await _wait_deleted(admin, existing)
            done.append(f"deleted {', '.join(existing)}")
    finally:
        await admin.close()
    await ensure_topics(bootstrap, topics, input_partitions)
    done.append(f"created {', '.join(internal)} empty")
    for group in groups:
        count = await _rewind_group(bootstrap, group, topics)
        done.append(f"moved {group} to the start of {count} partitions")
    return done


def cmd_reset(args: argparse.Namespace) -> int:
    """Run :func:`reset` and report; a one-line error on failure."""
    from sellerwatch.agents.settings import Settings

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # its retries: our one line says it
    settings = Settings()
    bootstrap = args.bootstrap or settings.bootstrap
    prefix = settings.topic_prefix if args.topic_prefix is None else args.topic_prefix
    try:
        lines = asyncio.run(
            asyncio.wait_for(reset(bootstrap, prefix, settings.input_partitions), timeout=120)
        )
    except ResetError as exc:
        sys.stderr.write(f"sellerwatch: error: {exc}\n")
        return 2
    except (OSError, TimeoutError) as exc:
        sys.stderr.write(
            f"sellerwatch: error: cannot reach Kafka at {bootstrap} "
            f"(SELLERWATCH_BOOTSTRAP / --bootstrap): {exc or type(exc).__name__}\n"
        )
        return 2
    except Exception as exc:  # noqa: BLE001 - aiokafka's connection errors are not OSError
        sys.stderr.write(f"sellerwatch: error: reset of {prefix!r} failed: {exc!r}\n")
        return 2
    for line in lines:
        sys.stderr.write(f"reset: {line}\n")
    sys.stderr.write("reset: the next worker rebuilds the state from the input topics\n")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``reset``."""
    parser = sub.add_parser(
        "reset",
        help="forget the engine's state (snapshots, engine log, offsets): the next worker "
        "rebuilds it from the inputs",
    )
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (env SELLERWATCH_BOOTSTRAP)")
    parser.add_argument(
        "--topic-prefix", help="prefix of the topics (env SELLERWATCH_TOPIC_PREFIX)"
    )
    parser.set_defaults(func=cmd_reset)

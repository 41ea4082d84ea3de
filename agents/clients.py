"""The two Kafka clients the stages use, configured in one place.

Both stages consume with ``read_committed`` and commit offsets only inside their producer's
transactions; both produce with an idempotent transactional producer whose id fences zombies.
Both take the SASL/TLS settings of :mod:`agents.kafka_security`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from sellerwatch.agents.kafka_security import client_options
from sellerwatch.agents.topics import MESSAGE_BYTES_MAX

MIB = 1024 * 1024


def group_consumer(
    bootstrap: str, group_id: str, *, partition_fetch_mib: int = 4
) -> AIOKafkaConsumer:
    """A consumer of a group that never auto-commits and sees only committed records."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_partition_fetch_bytes=partition_fetch_mib * MIB,
        fetch_max_bytes=32 * MIB,
        **client_options(),
    )


def transactional_producer(
    bootstrap: str, transactional_id: str, *, linger_ms: int = 5
) -> AIOKafkaProducer:
    """An idempotent producer; its transactions time out in 15 s (a dead owner blocks no more)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        transactional_id=transactional_id,
        enable_idempotence=True,
        linger_ms=linger_ms,
        max_batch_size=MIB,
        max_request_size=MESSAGE_BYTES_MAX,  # what every topic takes
        transaction_timeout_ms=15_000,
        **client_options(),
    )


async def send_batched(
    producer: AIOKafkaProducer,
    topic: str,
    partition: int,
    records: Iterable[tuple[bytes | None, bytes, list[tuple[str, bytes]]]],
) -> list[asyncio.Future[Any]]:
    """Produce ``(key, value, headers)`` records to one partition in hand-built batches;
    returns the batches' delivery futures (a transaction awaits them before its commit).

    ``producer.send`` costs a future, a partitioner call and an accumulator lookup per record;
    appending to a batch we own costs one call per record and one send per ~1 MB.
    """
    deliveries = []
    builder = producer.create_batch()
    for key, value, headers in records:
        if builder.append(key=key, value=value, timestamp=None, headers=headers) is None:
            deliveries.append(await producer.send_batch(builder, topic, partition=partition))
            builder = producer.create_batch()
            builder.append(key=key, value=value, timestamp=None, headers=headers)
    if builder.record_count():
        deliveries.append(await producer.send_batch(builder, topic, partition=partition))
    return deliveries

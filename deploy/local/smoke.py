"""Smoke check for the local infrastructure started by deploy/local/up.sh.

Checks, against localhost:
  1. Redis answers PING.
  2. Kafka: a plain produce + consume round trip on an auto-created topic.
  3. Kafka transactions: an aborted and then a committed transaction from an
     idempotent transactional producer; a read_committed consumer must see
     only the committed record.

Run: python deploy/local/smoke.py   (needs `pip install aiokafka`)
Env: KAFKA_PORT (9092), REDIS_PORT (6379). Exit code 0 means all passed.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
import sys
import time
import uuid

try:
    from aiokafka import (  # type: ignore[import-untyped]
        AIOKafkaConsumer,
        AIOKafkaProducer,
        TopicPartition,
    )
    from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - depends on the environment
    print("smoke: aiokafka is not installed (pip install aiokafka)", file=sys.stderr)
    sys.exit(2)

KAFKA_PORT = int(os.environ.get("KAFKA_PORT", "9092"))
REDIS_PORT = int(os.environ.get("REDIS_PORT", "6379"))
BOOTSTRAP = f"localhost:{KAFKA_PORT}"
TIMEOUT_S = 30.0


def check_redis() -> None:
    """PING Redis with the raw protocol (no client library needed)."""
    with socket.create_connection(("127.0.0.1", REDIS_PORT), timeout=3) as sock:
        sock.sendall(b"PING\r\n")
        reply = sock.recv(64)
    if reply != b"+PONG\r\n":
        raise RuntimeError(f"Redis on port {REDIS_PORT} answered {reply!r}")


async def read_until(
    topic: str, want: bytes, isolation_level: str = "read_uncommitted"
) -> list[bytes]:
    """Read partition 0 of topic from the beginning until `want` shows up."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=BOOTSTRAP,
        enable_auto_commit=False,
        isolation_level=isolation_level,
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        seen: list[bytes] = []
        while want not in seen:
            msg = await asyncio.wait_for(consumer.getone(), timeout=TIMEOUT_S)
            seen.append(msg.value or b"")
        return seen
    finally:
        await consumer.stop()


async def check_plain(run_id: str) -> None:
    topic = f"sellerwatch-smoke-plain-{run_id}"
    payload = f"hello-{run_id}".encode()
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP)
    await producer.start()
    try:
        # First send auto-creates the topic (auto.create.topics.enable=true).
        await producer.send_and_wait(topic, payload, partition=0)
    finally:
        await producer.stop()
    seen = await read_until(topic, payload)
    if seen != [payload]:
        raise RuntimeError(f"plain: expected [{payload!r}], read {seen!r}")


async def begin_transaction(producer: AIOKafkaProducer) -> None:
    """begin_transaction() is a coroutine in recent aiokafka, a plain call in old ones."""
    result = producer.begin_transaction()
    if inspect.isawaitable(result):
        await result


async def check_transactions(run_id: str) -> None:
    topic = f"sellerwatch-smoke-txn-{run_id}"
    aborted = f"aborted-{run_id}".encode()
    committed = f"committed-{run_id}".encode()
    producer = AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP,
        transactional_id=f"sellerwatch-smoke-{run_id}",
        enable_idempotence=True,
    )
    await producer.start()
    try:
        await begin_transaction(producer)
        await producer.send_and_wait(topic, aborted, partition=0)
        await producer.abort_transaction()

        await begin_transaction(producer)
        await producer.send_and_wait(topic, committed, partition=0)
        await producer.commit_transaction()
    finally:
        await producer.stop()

    # The aborted record precedes the committed one in the log, so a
    # read_committed consumer that did not filter it would return it first.
    seen = await read_until(topic, committed, isolation_level="read_committed")
    if seen != [committed]:
        raise RuntimeError(f"transactions: expected [{committed!r}], read {seen!r}")


async def delete_topics(topics: list[str]) -> None:
    """Best effort: keep the local broker from filling up with smoke topics."""
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.delete_topics(topics)
    finally:
        await admin.close()


async def main() -> int:
    # aiokafka logs "Topic ... not found in cluster metadata" (at ERROR) while
    # the broker auto-creates the smoke topics; that is expected here.
    logging.getLogger("aiokafka.cluster").addFilter(
        lambda record: "not found in cluster metadata" not in record.getMessage()
    )
    run_id = uuid.uuid4().hex[:12]
    checks: list[tuple[str, float]] = []

    started = time.monotonic()
    check_redis()
    checks.append((f"redis PING on localhost:{REDIS_PORT}", time.monotonic() - started))

    started = time.monotonic()
    await asyncio.wait_for(check_plain(run_id), timeout=2 * TIMEOUT_S)
    checks.append((f"kafka produce/consume on {BOOTSTRAP}", time.monotonic() - started))

    started = time.monotonic()
    await asyncio.wait_for(check_transactions(run_id), timeout=2 * TIMEOUT_S)
    checks.append(("kafka transaction abort+commit, read_committed", time.monotonic() - started))

    await delete_topics([f"sellerwatch-smoke-plain-{run_id}", f"sellerwatch-smoke-txn-{run_id}"])

    for name, seconds in checks:
        print(f"ok   {name} ({seconds:.2f}s)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except Exception as exc:  # noqa: BLE001 - report any failure as one line and exit 1
        print(f"FAIL {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)

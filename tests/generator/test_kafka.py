"""``--to-kafka`` on the real broker: every event on its topic with its SPEC §2 key."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections import Counter
from pathlib import Path

import pytest

from sellerwatch.schemas.events import TOPIC_OF_TYPE, kafka_key
from sellerwatch.schemas.validation import Rejected, decode_event
from tests.generator.conftest import lines, run
from tests.integration.topics import delete_prefixed

BOOTSTRAP = os.environ.get("SELLERWATCH_BOOTSTRAP", "localhost:9092")

pytestmark = pytest.mark.integration


def _broker_up() -> bool:
    host, _, port = BOOTSTRAP.partition(":")
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, int(port or 9092))) == 0


async def _consume(prefix: str, expected: int) -> list[tuple[str, bytes | None, bytes]]:
    from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]

    topics = [prefix + t for t in dict.fromkeys(TOPIC_OF_TYPE.values())]
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=BOOTSTRAP, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list[tuple[str, bytes | None, bytes]] = []
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while len(records) < expected and asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=1_000)
            for partition, messages in batches.items():
                records += [(partition.topic, m.key, m.value) for m in messages]
    finally:
        await consumer.stop()
    return records


def test_to_kafka_sends_every_event_to_its_topic_with_its_key(tmp_path: Path) -> None:
    if not _broker_up():
        pytest.skip(f"no Kafka broker at {BOOTSTRAP} (deploy/local/up.sh)")
    prefix = f"gen{uuid.uuid4().hex[:8]}."
    options = ("--seed", "1", "--days", "6", "--bad-rate", "0.002")
    try:
        run("generate", *options, "--to-kafka", "--bootstrap", BOOTSTRAP, "--topic-prefix", prefix)
        run("generate", *options, "--out", str(tmp_path / "events.jsonl"))
        expected = lines(tmp_path / "events.jsonl")
        records = asyncio.run(_consume(prefix, len(expected)))
    finally:
        asyncio.run(delete_prefixed([prefix], BOOTSTRAP))
    assert Counter(value for _, _, value in records) == Counter(expected)
    for topic, key, value in records:
        event = decode_event(value)
        if isinstance(event, Rejected):
            continue  # a bad record goes where its source event would have gone
        assert topic == prefix + TOPIC_OF_TYPE[type(event).__struct_config__.tag]  # type: ignore[attr-defined]
        assert key == kafka_key(event).encode()

"""Load JSONL events into the input topics with the SPEC §2 keys (``sellerwatch produce``).

Each line goes to its type's topic, keyed as SPEC §2 says. A line that cannot be routed (not
JSON, no known type) still goes in, to ``payments`` without a key, so the worker dead-letters it
instead of it being lost here. A line over the message size Kafka takes cannot go in at all: it
is dead-lettered here (reason ``too_large``, with its file and line), and said so on stderr.
"""

from __future__ import annotations

import sys
from collections import Counter

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError

from sellerwatch.agents.kafka_security import client_options, start_client
from sellerwatch.agents.outputs import unsent_record
from sellerwatch.agents.topics import MESSAGE_BYTES_MAX, Topics, ensure_topics
from sellerwatch.schemas.events import TOPIC_OF_TYPE
from sellerwatch.sources import open_input

_KEY_FIELD = {
    "payment": "order_id",
    "shipment": "order_id",
    "refund": "order_id",
    "pickup_scan": "tracking_no",
    "exemption": "shop_id",
    "enrollment": "shop_id",
    "subsidy": "item_id",
}


def route(raw: bytes) -> tuple[str, bytes | None]:
    """``(topic without prefix, key)`` of one raw line."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "payments", None
    if not isinstance(doc, dict) or doc.get("type") not in TOPIC_OF_TYPE:
        return "payments", None
    key = doc.get(_KEY_FIELD[doc["type"]])
    return TOPIC_OF_TYPE[doc["type"]], key.encode() if isinstance(key, str) else None


async def produce_files(bootstrap: str, prefix: str, files: list[str]) -> Counter[str]:
    """Send every non-blank line of ``files``; returns records per topic."""
    topics = Topics(prefix)
    counts: Counter[str] = Counter()
    await ensure_topics(bootstrap, topics)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=20,
        max_batch_size=512 * 1024,
        max_request_size=MESSAGE_BYTES_MAX,
        acks="all",
        **client_options(),
    )
    await start_client(producer, bootstrap)
    try:
        pending = []
        for name in files:
            stream = open_input(name)
            try:
                for number, raw in enumerate(stream, 1):
                    raw = raw.rstrip(b"\r\n")
                    if not raw.strip():
                        continue
                    topic, key = route(raw)
                    target = topics(topic)
                    try:
                        pending.append(await producer.send(target, value=raw, key=key))
                    except MessageSizeTooLargeError:
                        letter = unsent_record(topics, raw, name, number)
                        sys.stderr.write(
                            f"produce: {name} line {number}: {len(raw):,} bytes (with its key) "
                            f"is over the message size Kafka takes; dead-lettered as too_large\n"
                        )
                        target = letter.topic
                        pending.append(
                            await producer.send(target, value=letter.value, headers=letter.headers)
                        )
                    counts[target] += 1
                    if len(pending) >= 10_000:
                        for future in pending:
                            await future
                        pending.clear()
            finally:
                stream.close()
        for future in pending:
            await future
    finally:
        await producer.stop()
    return counts

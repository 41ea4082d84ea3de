"""Where generated records go: one JSONL file, one file per topic, or the Kafka input topics.

Every sink takes whole batches (a day of events) and writes each batch with one ``write`` per
file. File names and topics come from :data:`schemas.events.TOPIC_OF_TYPE`; a bad record goes
where the event it was derived from would have gone.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from sellerwatch.generator.buffer import Record
from sellerwatch.schemas.events import TOPIC_OF_TYPE

#: One file per input topic with ``--split-dir``.
SPLIT_FILES: dict[str, str] = {
    topic: f"{topic}.jsonl" for topic in dict.fromkeys(TOPIC_OF_TYPE.values())
}


class SinkError(Exception):
    """An output that cannot be opened or written."""


class _Gzip(gzip.GzipFile):
    """Gzip with no file name and no mtime in its header (same seed, same bytes), closing the
    file under it too."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__(filename="", mode="wb", fileobj=raw, mtime=0)
        self._raw = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


def _open(path: Path) -> IO[bytes]:
    try:
        out = path.open("wb")
        if path.suffix == ".gz":
            return _Gzip(out)  # type: ignore[return-value]
        return out
    except OSError as exc:
        raise SinkError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _lines(records: Iterable[Record]) -> bytes:
    return b"\n".join([record[3] for record in records]) + b"\n"


class FileSink:
    """All records, in stream order, to one JSONL file (``.gz`` by suffix; ``-`` for stdout)."""

    def __init__(self, name: str) -> None:
        """Open ``name`` for writing."""
        self.name = name
        self._out = sys.stdout.buffer if name == "-" else _open(Path(name))
        self.bytes = 0

    def write(self, records: list[Record]) -> None:
        """Append one batch."""
        if records:
            data = _lines(records)
            self._out.write(data)
            self.bytes += len(data)

    def close(self) -> None:
        """Flush and close (stdout is only flushed)."""
        if self._out is sys.stdout.buffer:
            self._out.flush()
        else:
            self._out.close()


class SplitSink:
    """One JSONL file per input topic in a directory, each in stream order."""

    def __init__(self, directory: str) -> None:
        """Create ``directory`` if needed and open the five topic files."""
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"cannot create {directory}: {exc.strerror or exc}") from exc
        self._files = {topic: _open(self.directory / name) for topic, name in SPLIT_FILES.items()}
        self.bytes = 0

    def write(self, records: list[Record]) -> None:
        """Append one batch, split by topic."""
        by_topic: dict[str, list[Record]] = {}
        for record in records:
            topic = TOPIC_OF_TYPE[record[1]]
            bucket = by_topic.get(topic)
            if bucket is None:
                by_topic[topic] = [record]
            else:
                bucket.append(record)
        for topic, bucket in by_topic.items():
            data = _lines(bucket)
            self._files[topic].write(data)
            self.bytes += len(data)

    def close(self) -> None:
        """Close every file."""
        for out in self._files.values():
            out.close()


async def produce(
    batches: Iterable[list[Record]],
    *,
    bootstrap: str,
    topic_prefix: str = "",
    linger_ms: int = 20,
) -> int:
    """Send every record to ``topic_prefix + topic`` keyed as SPEC §2; returns bytes sent.

    Records keep the broker's own timestamps (the event time is in the payload), so the
    broker's time-based retention does not delete a replayed history on arrival.
    """
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    from sellerwatch.agents.kafka_security import client_options
    from sellerwatch.agents.topics import Topics, ensure_topics

    topics = {etype: topic_prefix + topic for etype, topic in TOPIC_OF_TYPE.items()}
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=linger_ms,
        max_batch_size=256 * 1024,
        **client_options(),
    )
    # Retries (a new topic's leader is still being elected) are routine: warn about errors only.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    try:
        # The worker's topics with their partition counts and retention, if missing.
        await ensure_topics(bootstrap, Topics(topic_prefix))
        await producer.start()
    except KafkaError as exc:
        await producer.stop()
        raise SinkError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    sent = 0
    try:
        send = producer.send
        for batch in batches:
            deliveries = []
            for _, etype, key, line in batch:
                deliveries.append(await send(topics[etype], line, key=key.encode()))
                sent += len(line)
            await asyncio.gather(*deliveries)  # raises if the broker refused a record
    except KafkaError as exc:
        raise SinkError(f"Kafka at {bootstrap} refused a record: {exc}") from exc
    finally:
        await producer.stop()
    return sent

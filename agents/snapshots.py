"""Engine snapshots on a compacted topic, written in the same transaction as the outputs.

A snapshot is the pickled engine plus the engine-log offset it has consumed up to, compressed,
split into chunks under keys ``chunk-<i>`` and closed by a ``manifest`` record. Because all of
it is committed atomically with the outputs and the consumer offset, a ``read_committed`` reader
sees either the whole new snapshot or the whole old one.
"""

from __future__ import annotations

import asyncio
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

CHUNK_BYTES = 900_000
MANIFEST = b"manifest"


@dataclass(frozen=True)
class Snapshot:
    """An engine state and the next engine-log offset to read after it."""

    engine_blob: bytes
    log_offset: int
    snapshot_id: int


def to_records(snapshot: Snapshot) -> list[tuple[bytes, bytes]]:
    """``(key, value)`` records: the chunks, then the manifest."""
    return chunk_records(compress(snapshot.engine_blob), snapshot.snapshot_id, snapshot.log_offset)


def compress(engine_blob: bytes) -> bytes:
    """The stored form of an engine blob."""
    return zlib.compress(engine_blob, 1)


def chunk_records(data: bytes, snapshot_id: int, log_offset: int) -> list[tuple[bytes, bytes]]:
    """Compressed ``data`` as chunk records under ``snapshot_id``, closed by the manifest."""
    chunks = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [b""]
    prefix = f"{snapshot_id}:".encode()
    records = [(f"chunk-{i}".encode(), prefix + chunk) for i, chunk in enumerate(chunks)]
    manifest = {"snapshot_id": snapshot_id, "chunks": len(chunks), "log_offset": log_offset}
    records.append((MANIFEST, orjson.dumps(manifest)))
    return records


class ForkedSnapshot:
    """The engine's state pickled in a forked child, while the parent carries on.

    Pickling a million open orders takes seconds; done in the engine's process it stops every
    verdict for that long. ``fork`` gives the child a copy-on-write image of the state *as it is
    now*, so the snapshot is consistent with the log offset of the moment it was started, and can
    be committed in any later transaction: the manifest carries that offset.
    """

    def __init__(self, engine: Any, log_offset: int) -> None:
        """Fork now; the child compresses ``engine.snapshot()`` into a pipe and exits."""
        self.log_offset = log_offset
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: no event loop, no clients, only the pickling
            status = 1
            try:
                os.close(read_fd)
                with os.fdopen(write_fd, "wb") as out:
                    out.write(compress(engine.snapshot()))
                status = 0
            finally:
                os._exit(status)
        os.close(write_fd)
        self.pid = pid
        self.data: asyncio.Future[bytes] = asyncio.ensure_future(
            asyncio.to_thread(self._collect, read_fd)
        )

    def _collect(self, read_fd: int) -> bytes:
        with os.fdopen(read_fd, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(self.pid, 0)
        if status != 0:
            raise RuntimeError(f"snapshot child {self.pid} failed (status {status})")
        return data

    def records(self) -> list[tuple[bytes, bytes]]:
        """The snapshot's records, once :attr:`data` is done."""
        return chunk_records(self.data.result(), self.log_offset, self.log_offset)


def from_records(latest: dict[bytes, bytes]) -> Snapshot | None:
    """Rebuild the newest complete snapshot from the latest value per key, if any."""
    raw = latest.get(MANIFEST)
    if raw is None:
        return None
    manifest = orjson.loads(raw)
    prefix = f"{manifest['snapshot_id']}:".encode()
    parts = []
    for i in range(manifest["chunks"]):
        chunk = latest.get(f"chunk-{i}".encode())
        if chunk is None or not chunk.startswith(prefix):
            raise ValueError(f"snapshot {manifest['snapshot_id']} is missing chunk {i}")
        parts.append(chunk[len(prefix) :])
    return Snapshot(
        zlib.decompress(b"".join(parts)), manifest["log_offset"], manifest["snapshot_id"]
    )


async def latest_per_key(
    bootstrap: str, topic: str, stop: Callable[[Any], Any]
) -> dict[bytes, bytes]:
    """The latest committed value of every key of a compacted one-partition ``topic``: what a
    snapshot topic holds. ``stop`` stops the reader (with the caller's deadline)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from sellerwatch.agents.kafka_security import client_options

    reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        enable_auto_commit=False,
        **client_options(),
    )
    await reader.start()
    try:
        tp = TopicPartition(topic, 0)
        reader.assign([tp])
        await reader.seek_to_beginning(tp)
        end = (await reader.end_offsets([tp]))[tp]
        latest: dict[bytes, bytes] = {}
        while await reader.position(tp) < end:
            batch = await reader.getmany(tp, timeout_ms=500)
            for record in batch.get(tp, ()):
                if record.key is not None and record.value is not None:
                    latest[record.key] = record.value
        return latest
    finally:
        await stop(reader)

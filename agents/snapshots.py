"""Engine snapshots on a compacted topic, written in the same transaction as the outputs.

A snapshot is the pickled engine plus the engine-log offset it has consumed up to, compressed,
split into chunks under keys ``chunk-<i>`` and closed by a ``manifest`` record. Because all of
it is committed atomically with the outputs and the consumer offset, a ``read_committed`` reader
sees either the whole new snapshot or the whole old one.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

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
    data = zlib.compress(snapshot.engine_blob, 1)
    chunks = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [b""]
    prefix = f"{snapshot.snapshot_id}:".encode()
    records = [(f"chunk-{i}".encode(), prefix + chunk) for i, chunk in enumerate(chunks)]
    manifest = {
        "snapshot_id": snapshot.snapshot_id,
        "chunks": len(chunks),
        "log_offset": snapshot.log_offset,
    }
    records.append((MANIFEST, orjson.dumps(manifest)))
    return records


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

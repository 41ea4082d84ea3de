"""Records of the engine log: an input record's bytes plus where it came from, or a marker.

The sequencer copies every input record into the single-partition engine log, headers saying
its source ``topic/partition/offset``; markers say a source partition went idle (live) or was
read to its end (backtest). Everything that decides the engine's watermark is in the log, so a
restarted engine that re-reads the log rebuilds exactly the state it had.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

EVENT, IDLE, EOF = b"event", b"idle", b"eof"
#: Direct ingest: one record per engine transaction, saying which input records it applied.
DECISION = b"decision"
DECISION_HEADERS = [("sw-kind", DECISION)]


@dataclass(frozen=True, slots=True)
class Envelope:
    """One engine-log record, decoded from its headers."""

    kind: bytes
    source: str  # "topic:partition", topic without prefix
    offset: int
    raw: bytes


def headers(kind: bytes, source: str, offset: int) -> list[tuple[str, bytes]]:
    """Kafka headers of an engine-log record."""
    return [("sw-kind", kind), ("sw-src", source.encode()), ("sw-off", str(offset).encode())]


_SOURCES: dict[bytes, str] = {}


def kind_and_source(record_headers: Sequence[tuple[str, bytes]]) -> tuple[bytes, str]:
    """The hot path's view of a record: its kind and source, without building an Envelope."""
    if len(record_headers) == 3 and record_headers[0][0] == "sw-kind":
        raw_source = record_headers[1][1]
        source = _SOURCES.get(raw_source)
        if source is None:
            source = _SOURCES[raw_source] = raw_source.decode()
        return record_headers[0][1], source
    envelope = open_envelope(b"", record_headers)
    return envelope.kind, envelope.source


def open_envelope(value: bytes | None, record_headers: Sequence[tuple[str, bytes]]) -> Envelope:
    """Read an engine-log record back."""
    found = dict(record_headers)
    return Envelope(
        kind=found.get("sw-kind", EVENT),
        source=found.get("sw-src", b"?").decode(),
        offset=int(found.get("sw-off", b"-1")),
        raw=value or b"",
    )


def source_id(topic: str, partition: int) -> str:
    """The engine's id of an input partition."""
    return f"{topic}:{partition}"

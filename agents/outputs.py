"""What the engine's outputs look like on Kafka: topic, key, value and headers per record."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sellerwatch.agents.topics import (
    DEAD_LETTER,
    EVIDENCE,
    LATE,
    MESSAGE_BYTES_MAX,
    WARNINGS,
    Topics,
)
from sellerwatch.schemas.evidence import Evidence, split
from sellerwatch.schemas.validation import TOO_LARGE, Rejected
from sellerwatch.schemas.verdict import Evaluation, Verdict, encode
from sellerwatch.schemas.warning import EarlyWarning


@dataclass(frozen=True, slots=True)
class OutRecord:
    """One record to produce."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    #: An explicit partition (the partition log's records); ``None``: by key.
    partition: int | None = None


def verdict_record(topics: Topics, verdict: Verdict) -> OutRecord:
    """A verdict on its kind's topic, keyed by subject id, its id in a header."""
    return OutRecord(
        topics(verdict.topic),
        verdict.subject.encode(),
        encode(verdict),
        [("verdict_id", verdict.verdict_id.encode())],
    )


#: Largest evidence record sent as one message: half the broker's default ``message.max.bytes``
#: (1 MB), which a weekly incentive of a busy shop (thousands of orders) exceeds.
EVIDENCE_PART_BYTES = 512 * 1024


def evidence_records(topics: Topics, evidence: Evidence) -> list[OutRecord]:
    """The orders behind a verdict (``SELLERWATCH_EVIDENCE=1``), keyed like the verdict, in
    as many parts as fit the broker's message size (:func:`schemas.evidence.split`)."""
    key = evidence.verdict.subject.encode()
    headers = [("verdict_id", evidence.verdict_id.encode())]
    return [
        OutRecord(topics(EVIDENCE), key, encode(part), headers)
        for part in split(evidence, EVIDENCE_PART_BYTES)
    ]


def warning_record(topics: Topics, warning: EarlyWarning) -> OutRecord:
    """An early warning (``SELLERWATCH_WARNINGS=1``), keyed by its subject like the verdict
    it foresees, whose id it carries in a header."""
    return OutRecord(
        topics(WARNINGS),
        warning.subject.encode(),
        encode(warning),
        [("verdict_id", warning.verdict_id.encode())],
    )


#: Largest copy of an input record put on the dead-letter or late topic. SPEC §5 keeps the raw
#: bytes untouched, and every topic takes 8 MiB, so every record up to this goes whole; only one
#: within 64 KiB of the limit (an input topic took it) is cut: with the headers it would be over
#: the limit, the transaction would fail, and the engine would rebuild and fail on it forever.
DIVERTED_BYTES_MAX = MESSAGE_BYTES_MAX - 64 * 1024


def dead_letter_record(
    topics: Topics, raw: bytes, rejected: Rejected, source: str, offset: int
) -> OutRecord:
    """The raw bytes untouched (up to :data:`DIVERTED_BYTES_MAX`); the reason and where it
    came from in headers."""
    reason = [("reason", rejected.reason.encode()), ("message", rejected.message.encode())]
    value, cut = _bounded(raw)
    return OutRecord(
        topics(DEAD_LETTER), None, value, reason + cut + _source(topics, source, offset)
    )


def unsent_record(topics: Topics, raw: bytes, file: str, line: int) -> OutRecord:
    """A line ``sellerwatch produce`` could not put on its input topic (over the message size
    Kafka takes): dead-lettered ``too_large`` by the loader, with its file and line."""
    value, cut = _bounded(raw)
    message = f"record of {len(raw):,} bytes is over the message size Kafka takes"
    headers = [("reason", TOO_LARGE.encode()), ("message", message.encode()), *cut]
    headers += [("source_file", file.encode()), ("source_line", str(line).encode())]
    return OutRecord(topics(DEAD_LETTER), None, value, headers)


def late_record(
    topics: Topics, raw: bytes, source: str, offset: int, watermark: int | None
) -> OutRecord:
    """A late record with the watermark it missed."""
    missed = [("watermark", str(watermark).encode())]
    value, cut = _bounded(raw)
    return OutRecord(topics(LATE), None, value, missed + cut + _source(topics, source, offset))


def _bounded(raw: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The record's bytes, or their first :data:`DIVERTED_BYTES_MAX` and a ``truncated_from``
    header with the whole length (the whole record stays in its input topic, at the source
    headers' offset)."""
    if len(raw) <= DIVERTED_BYTES_MAX:
        return raw, []
    return raw[:DIVERTED_BYTES_MAX], [("truncated_from", str(len(raw)).encode())]


def _source(topics: Topics, source: str, offset: int) -> list[tuple[str, bytes]]:
    """Headers naming the input record's topic (prefixed), partition and offset."""
    topic, _, partition = source.rpartition(":")
    return [
        ("source_topic", topics(topic).encode()),
        ("source_partition", partition.encode()),
        ("source_offset", str(offset).encode()),
    ]


def metrics_records(
    evaluations: Iterable[Evaluation],
) -> Iterator[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    """``(key, value, headers)`` of each evaluation's figures, keyed by subject.

    The metrics topic has one partition, so these skip :class:`OutRecord` and the partitioner.
    """
    for evaluation in evaluations:
        yield evaluation.subject.encode(), encode(evaluation), []

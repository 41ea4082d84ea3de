"""Read JSONL inputs (files, ``.gz`` files or stdin) and merge them by event time.

Several inputs are merged by ``ts`` as Kafka partitions would be (ties: the earlier input
first). Every record keeps where it came from, for dead letters; blank lines are skipped and
not counted (SPEC §7).
"""

from __future__ import annotations

import gzip
import heapq
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from schemas.events import Event
from schemas.validation import Rejected, decode_event

#: One input line: its decoding, its bytes, and where it came from (a plain tuple: hot path).
Record = tuple[Event | Rejected, bytes, str, int]


class InputError(Exception):
    """An input that cannot be read at all (missing file, permission)."""


def open_input(name: str) -> BinaryIO:
    """Open a path (gzip by suffix) or ``-`` for stdin, as bytes."""
    if name == "-":
        return sys.stdin.buffer
    path = Path(name)
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "rb")  # type: ignore[return-value]
        return path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read input {name}: {exc.strerror or exc}") from exc


def read_records(name: str) -> Iterator[Record]:
    """Decode every non-blank line of one input."""
    stream = open_input(name)
    source = "<stdin>" if name == "-" else name
    try:
        for number, raw in enumerate(stream, start=1):
            if raw[:1] in b" \t\r\n" and not raw.strip():
                continue
            raw = raw.rstrip(b"\r\n")
            yield decode_event(raw), raw, source, number
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read input {name}: {exc}") from exc
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def merged(names: list[str]) -> Iterator[Record]:
    """All records of all inputs, merged by ``ts``; a rejected record keeps its place."""
    if len(names) == 1:
        yield from read_records(names[0])
        return

    def keyed(index: int, name: str) -> Iterator[tuple[int, int, int, Record]]:
        last_ts = 0
        for record in read_records(name):
            decoded = record[0]
            if type(decoded) is not Rejected:
                last_ts = decoded.ts  # type: ignore[union-attr]
            yield last_ts, index, record[3], record

    for _, _, _, record in heapq.merge(*(keyed(i, n) for i, n in enumerate(names))):
        yield record

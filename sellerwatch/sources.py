"""Read JSONL inputs (files, ``.gz`` files, stdin, FIFOs) and merge them by event time.

Several inputs are merged by ``ts`` as Kafka partitions would be (ties: the earlier input
first). Every record keeps where it came from, for dead letters; blank lines are skipped and
not counted (SPEC §7). Any readable path is an input (``/dev/stdin``, a FIFO, ``<(...)``);
a file that cannot be read to its end is an :class:`InputError` naming the line reached.
"""

from __future__ import annotations

import gzip
import heapq
import sys
import zlib
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import BinaryIO

from sellerwatch.schemas.events import Event
from sellerwatch.schemas.validation import (
    DEFAULT_MAX_RECORD_BYTES,
    TOO_LARGE,
    Rejected,
    decode_event,
)

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


def open_inputs(names: list[str]) -> list[BinaryIO]:
    """Open every input before anything is written, so an unreadable one changes nothing."""
    opened: list[BinaryIO] = []
    try:
        for name in names:
            opened.append(open_input(name))
    except InputError:
        for stream in opened:
            if stream is not sys.stdin.buffer:
                stream.close()
        raise
    return opened


def _read_error(name: str, line: int, exc: BaseException) -> InputError:
    if isinstance(exc, EOFError):
        why = "truncated (compressed data ends early)"
    elif isinstance(exc, zlib.error | gzip.BadGzipFile):
        why = f"corrupt compressed data ({exc})"
    else:
        why = getattr(exc, "strerror", None) or str(exc)
    return InputError(f"cannot read input {name} after line {line:,}: {why}")


def _overlong(stream: BinaryIO, head: bytes, max_record_bytes: int) -> Rejected:
    """Skip the rest of a line longer than the limit without holding it in memory."""
    size = len(head)
    while True:
        chunk = stream.readline(1 << 20)
        size += len(chunk)
        if not chunk or chunk[-1:] == b"\n":
            break
    size -= 2 if chunk.endswith(b"\r\n") else 1 if chunk.endswith(b"\n") else 0
    return Rejected(
        TOO_LARGE,
        f"record of {size:,} bytes is larger than {max_record_bytes:,} "
        f"(the dead letter keeps its first {len(head):,})",
    )


def read_records(
    name: str,
    stream: BinaryIO | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Iterator[Record]:
    """Decode every non-blank line of one input (opened here unless ``stream`` is given)."""
    if stream is None:
        stream = open_input(name)
    source = "<stdin>" if name == "-" else name
    number = 0
    limit = max_record_bytes + 2  # room for the line's own "\r\n"
    readline = stream.readline
    try:
        for number, raw in enumerate(iter(partial(readline, limit), b""), start=1):  # noqa: B007
            if len(raw) == limit and raw[-1:] != b"\n":
                yield _overlong(stream, raw, max_record_bytes), raw, source, number
                continue
            if raw[:1] in b" \t\r\n" and not raw.strip():
                continue
            raw = raw.rstrip(b"\r\n")
            yield decode_event(raw, max_record_bytes), raw, source, number
    except (OSError, EOFError, zlib.error) as exc:
        raise _read_error(name, number, exc) from exc
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def merged(
    names: list[str],
    streams: list[BinaryIO] | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Iterator[Record]:
    """All records of all inputs, merged by ``ts``; a rejected record keeps its place."""
    opened: list[BinaryIO | None] = list(streams) if streams is not None else [None] * len(names)
    if len(names) == 1:
        yield from read_records(names[0], opened[0], max_record_bytes)
        return

    def keyed(index: int, name: str) -> Iterator[tuple[int, int, int, Record]]:
        last_ts = 0
        for record in read_records(name, opened[index], max_record_bytes):
            decoded = record[0]
            if type(decoded) is not Rejected:
                last_ts = decoded.ts  # type: ignore[union-attr]
            yield last_ts, index, record[3], record

    for _, _, _, record in heapq.merge(*(keyed(i, n) for i, n in enumerate(names))):
        yield record

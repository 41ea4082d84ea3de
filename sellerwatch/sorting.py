"""``--sort``: histories as people have them — unsorted files, sorted by ``ts`` in bounded memory.

An external merge sort: records are read in runs of at most ``run_records``, each run is sorted
in memory and spilled to a temporary file, and the runs are merged with :func:`heapq.merge`.
Memory holds one run, or one record per run while merging. Ties keep their input order (the
earlier file first, then the earlier line), as the replay's merge of several inputs does, so a
sorted file replays exactly as if it had been written in order. A rejected record has no ``ts``:
it keeps the ``ts`` of the record before it in its file, so it stays where it was read.
"""

from __future__ import annotations

import heapq
import os
import struct
import tempfile
from collections.abc import Iterator
from typing import Any, BinaryIO

from sellerwatch.schemas.validation import Rejected, decode_event
from sellerwatch.sources import Record, read_records

#: ``ts`` (signed), file index, line number, length of the raw bytes, then the bytes.
_HEADER = struct.Struct("<qIQI")
_Key = tuple[int, int, int]


_Entry = tuple[_Key, bytes, Any]  # the decoded record while in memory, None once spilled


def _spill(run: list[_Entry], folder: str) -> str:
    run.sort(key=lambda entry: entry[0])
    fd, path = tempfile.mkstemp(prefix="sellerwatch-sort-", dir=folder)
    with os.fdopen(fd, "wb") as out:
        for (ts, index, line), raw, _ in run:
            out.write(_HEADER.pack(ts, index, line, len(raw)))
            out.write(raw)
    return path


def _read_run(path: str) -> Iterator[_Entry]:
    with open(path, "rb") as run:
        while header := run.read(_HEADER.size):
            ts, index, line, size = _HEADER.unpack(header)
            yield (ts, index, line), run.read(size), None


def sorted_records(
    names: list[str],
    streams: list[BinaryIO] | None = None,
    max_record_bytes: int = 1 << 20,
    *,
    run_records: int = 500_000,
    folder: str | None = None,
) -> Iterator[Record]:
    """Every record of ``names``, ordered by ``(ts, file, line)``, in bounded memory."""
    opened: list[BinaryIO | None] = list(streams) if streams is not None else [None] * len(names)
    with tempfile.TemporaryDirectory(prefix="sellerwatch-sort-", dir=folder) as spill_dir:
        runs: list[str] = []
        run: list[_Entry] = []
        sources: dict[int, str] = {}
        for index, name in enumerate(names):
            last_ts = 0
            for decoded, raw, source, line in read_records(name, opened[index], max_record_bytes):
                sources[index] = source
                if type(decoded) is not Rejected:
                    last_ts = decoded.ts  # type: ignore[union-attr]
                run.append(((last_ts, index, line), raw, decoded))
                if len(run) >= run_records:
                    runs.append(_spill(run, spill_dir))
                    run = []
        run.sort(key=lambda entry: entry[0])
        merged = heapq.merge(iter(run), *(_read_run(path) for path in runs))
        for (_, index, line), raw, decoded in merged:
            # keys are unique, so the merge never compares the records themselves; only a
            # spilled record is decoded a second time
            if decoded is None:
                decoded = decode_event(raw, max_record_bytes)
            yield decoded, raw, sources[index], line

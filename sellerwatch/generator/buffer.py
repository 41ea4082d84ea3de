"""The rolling day buffer: events are filed by local day and flushed, sorted, once complete.

Orders are generated day by day (by paid day), and every event of an order comes at or after
its payment, so once the orders of day ``D`` are generated no later order can add an event to
day ``D``: :meth:`DayBuffer.flush` then returns day ``D``'s events sorted by ``ts`` (a stable
sort, so ties keep generation order). Only the days still open are in memory: the next few days
of shipments and scans, and the sparse refunds up to :data:`FOLLOW_UP_DAYS` ahead. Events at or
after the end of the range are cut off (counted), as a history cut at that instant would be.

A buffered event is a :data:`Record`: ``(ts, type, key, line)`` where ``line`` is the JSON
object as bytes without a newline and ``key`` is its Kafka record key (SPEC §2).
"""

from __future__ import annotations

from collections import Counter
from operator import itemgetter
from typing import Any

import msgspec

from sellerwatch.generator.timebase import Timeline

Record = tuple[int, str, str, bytes]

_by_ts = itemgetter(0)
# msgspec's encoder sizes its output exactly (orjson's bytes keep a ~1 KiB allocation each), so
# a buffered event costs its length, not a kilobyte.
_encode = msgspec.json.Encoder().encode


class DayBuffer:
    """Events filed by local day index, with event-id numbering and counts per type."""

    def __init__(self, timeline: Timeline) -> None:
        """An empty buffer over ``timeline``'s days."""
        self.timeline = timeline
        self.days: dict[int, list[Record]] = {}
        self.by_type: Counter[str] = Counter()
        self.cut_off = 0
        self._next_id = 0
        self._starts = timeline.starts
        self._begin = timeline.begin_ts
        self._end = timeline.end_ts

    def event_id(self, prefix: str) -> str:
        """A new event id, unique within the run: ``{prefix}-{n}``."""
        self._next_id += 1
        return f"{prefix}-{self._next_id}"

    def add(self, ts: int, etype: str, key: str, event: dict[str, Any]) -> bool:
        """File one event (``event`` already holds ``type``, ``event_id`` and ``ts``).

        Returns whether it was filed (``False``: outside the range, cut off).
        """
        if ts >= self._end or ts < self._begin:
            self.cut_off += 1
            return False
        day = self.timeline.day_of(ts)
        bucket = self.days.get(day)
        if bucket is None:
            bucket = self.days[day] = []
        bucket.append((ts, etype, key, _encode(event)))
        return True

    def flush(self, day: int) -> list[Record]:
        """Day ``day``'s events sorted by ``ts``; they leave the buffer."""
        records = self.days.pop(day, [])
        records.sort(key=_by_ts)
        by_type = self.by_type
        for record in records:
            by_type[record[1]] += 1
        return records

    def pending(self) -> int:
        """Events still buffered (for memory checks)."""
        return sum(len(bucket) for bucket in self.days.values())

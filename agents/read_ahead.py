"""How far the engine owner may read an input partition ahead of the watermark.

Every record read waits in the engine until ``W`` passes it, and ``W`` is the minimum over the
input partitions. A partition the consumer fetches faster than the others (a catch-up after an
outage, a partition with less traffic per byte) therefore fills the engine with records that
cannot be applied yet: the coordinator's and the engine's RSS in BENCHMARKS §8 were that queue.
As Flink's watermark alignment does, a partition whose latest event time is more than
``ahead_ms`` past the watermark is paused, and resumed once ``W`` comes within reach.

Worked table (``L`` = 0, ``ahead_ms`` = 60 000; times in seconds of event time):

====  =================  ========================  ==========================
W     partition max ts   max ts − L − W            action
====  =================  ========================  ==========================
100   100                0                         read (it holds ``W``)
100   170                70 > 60                   pause
150   170                20 ≤ 60                   resume
====  =================  ========================  ==========================

Pausing changes *when* a record is read, never whether it is late: a paused partition keeps
holding ``W`` back at its own ``max ts − L`` (it is not idle, :class:`PartitionWatch` skips it),
so no record it holds can fall behind a ``W`` that moved while it was paused. The partition that
holds ``W`` is never paused (its distance is 0), so reading always goes on somewhere.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Set
from typing import TypeVar

from sellerwatch.streams.clock import EventClock

Key = TypeVar("Key", bound=Hashable)


def plan_read_ahead(
    clock: EventClock,
    sources: Mapping[Key, Hashable],
    paused: Set[Key],
    ahead_ms: int,
) -> tuple[list[Key], list[Key]]:
    """``(to pause, to resume)`` among ``sources`` (partition -> the clock's source name).

    ``ahead_ms`` ≤ 0 turns alignment off: every partition in ``paused`` is resumed. Before the
    watermark exists (some partition has no record yet) nothing is paused either.
    """
    watermark = clock.watermark
    if ahead_ms <= 0 or watermark is None or clock.finished:
        return [], [tp for tp in sources if tp in paused]
    limit = watermark + clock.lateness_ms + ahead_ms
    pause: list[Key] = []
    resume: list[Key] = []
    for tp, source in sources.items():
        latest = clock.max_ts.get(source)
        ahead = latest is not None and latest > limit
        if ahead and tp not in paused:
            pause.append(tp)
        elif not ahead and tp in paused:
            resume.append(tp)
    return pause, resume

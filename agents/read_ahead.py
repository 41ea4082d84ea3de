"""How many records the engine owner may hold waiting for the watermark before it stops reading
the input partitions that run ahead.

Every record read waits in the engine until ``W`` passes it, and ``W`` is the minimum over the
input partitions. When some partitions are read faster than the one holding ``W`` back (a
catch-up after an outage, a topic whose records are small), their records pile up in memory,
about 500 bytes each. Once more than ``max_waiting`` records wait, every partition *ahead* of
``W`` (its latest event time past ``W`` plus the lateness) is paused, and all are resumed when
the queue is back under half of that: the alignment Flink calls watermark alignment, triggered
by what it costs rather than by an event-time distance, which would be too loose at a
Double-11 rate and would pause needlessly at a quiet one.

Worked table (``L`` = 0, ``max_waiting`` = 100; times in seconds of event time):

=======  ===  =========================  ===============================================
waiting  W    partitions' max ts         action
=======  ===  =========================  ===============================================
80       100  a 100, b 170, c 180        none (under the limit)
120      100  a 100, b 170, c 180        pause b and c (ahead of W); a holds W: read
70       130  a 130, b 170, c 180        none (b and c stay paused above half)
60       170  a idle, b 170, c 180       resume b: a went idle, b holds W now
40       175  b 175, c 180               resume c (under half)
=======  ===  =========================  ===============================================

Pausing changes *when* a record is read, never whether it is late: a paused partition keeps
holding ``W`` back at its own ``max ts − L`` (it is not idle, :class:`PartitionWatch` skips it),
so no record it holds can fall behind a ``W`` that moved while it was paused. A partition that
holds ``W`` is never paused, and one that comes to hold it (the one before went idle) is
resumed at once, whatever the queue, so ``W`` keeps moving: pausing it would wait forever. What
waits stays within two to three times ``max_waiting``: the owner takes at most that many
records a step (1,000 at least), and the partitions holding ``W`` back are always read.
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
    waiting: int,
    max_waiting: int,
) -> tuple[list[Key], list[Key]]:
    """``(to pause, to resume)`` among ``sources`` (partition -> the clock's source name),
    with ``waiting`` records waiting for ``W`` now.

    ``max_waiting`` ≤ 0 turns alignment off: every partition in ``paused`` is resumed. Before
    the watermark exists, the partitions without a record yet hold it back: the others are
    ahead.
    """
    watermark = clock.watermark
    if max_waiting <= 0 or clock.finished or waiting <= max_waiting // 2:
        return [], [tp for tp in sources if tp in paused]
    # Before W exists, it waits for the partitions without a record: every other is ahead.
    reach = None if watermark is None else watermark + clock.lateness_ms
    pause: list[Key] = []
    resume: list[Key] = []
    for tp, source in sources.items():
        latest = clock.max_ts.get(source)
        ahead = latest is not None and (reach is None or latest > reach)
        if ahead and tp not in paused and waiting > max_waiting:
            pause.append(tp)
        elif not ahead and tp in paused:
            resume.append(tp)  # it holds W now (the one before went idle): read it
    return pause, resume

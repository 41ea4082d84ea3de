r"""An evaluation instant as a conversation between the engine and its partitions.

At ``E_T`` every rule runs over every partition's orders, and some figures span partitions (a
shop's week, a category's refund rate, the categories' leaving counts, which waybills are
still shipped under). The engine therefore writes the instant as a generator of :class:`Ask`
requests, each sent to every partition, whose answers it combines before asking the next:

1. ``open_instant(day, E, collecting)``: each partition answers its share of the figures of
   every rule with a ``partial`` (a shop's week, category counts), collecting what the engine
   collects (figures, evidence, warnings); the engine ``combine``\ s the totals.
2. ``decide_instant(day, E, totals, leaving)``: per rule the partition's verdicts and figures,
   the rules' evidence, and the categories' counts leaving the window (for warnings); the
   engine ``settle``\ s the shops' weeks, puts the verdicts in SPEC §4.5 order, files evidence.
3. ``close_instant(day, E, W, ...)``: the partition's warnings, then its retention; which of
   the asked waybills it ships under, which waybills it let go of, its figures; the engine
   counts the orphan scans, forgets ids and moves on to ``E_{T+1}``.

One engine is its own only partition and answers at once. A partitioned engine in one process
asks its shards in turn (:mod:`streams.partitioned`). A coordinator whose partitions live in
other processes parks the conversation after each ask and resumes it when every answer has
come back through Kafka (:class:`streams.partitioned.RemoteCoordinator`): the same code, so the
same verdicts, whichever driver runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Ask:
    """One step of an instant: the method every partition runs, with its own arguments."""

    step: str
    #: The arguments of partition ``i`` at index ``i``.
    args: list[tuple[Any, ...]]

"""What a rule is to the engine at each ``E_T``: the steps a partitioned dataflow runs it in.

A partition holds some items' orders, so a rule whose figures span items (a shop's week, a
category's refund rate) cannot decide in one partition alone. Every rule is therefore written
as up to three steps, each with one home:

==========  =====================  =============================================================
step        runs                   returns
==========  =====================  =============================================================
partial     on every partition     what this partition adds to the figures that span partitions
combine     where they meet        the totals every partition needs (one partition: its own)
decide      on every partition     this partition's verdicts, given the totals
settle      where they meet        verdicts judged on the totals alone (a shop's week)
==========  =====================  =============================================================

A rule leaves out the steps it does not need: ``ship48_pickup24`` only decides. In one engine
there is one partition and the steps run back to back; a
:class:`streams.partitioned.PartitionedEngine` runs ``partial`` and ``decide`` per shard and
``combine`` and ``settle`` in its coordinator: the exchange that a deployment of several
workers would carry through Kafka.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sellerwatch.schemas.verdict import Verdict

if TYPE_CHECKING:
    from sellerwatch.streams.rules.campaign_fulfilment import CampaignState
    from sellerwatch.streams.rules.pickup48 import TagState
    from sellerwatch.streams.rules.quality_refund import QualityState
    from sellerwatch.streams.rules.ship48_pickup24 import BucketCounts
    from sellerwatch.streams.state import State


class Partition(Protocol):
    """One partition's state as the rules read it: the orders and each rule's own state."""

    state: State
    ship48: BucketCounts
    tags: TagState
    quality: QualityState
    campaigns: CampaignState


@dataclass(frozen=True)
class Steps:
    """A rule's steps (see the module's table); ``totals`` is ``combine``'s result or None."""

    rule: str
    decide: Callable[[Partition, int, int, Any], list[Verdict]] | None = None
    partial: Callable[[Partition, int, int], Any] | None = None
    combine: Callable[[list[Any]], Any] | None = None
    settle: Callable[[State, int, int, Any], list[Verdict]] | None = None

"""A coordinator of remote partitions and its partitions in one process, joined by a loopback
that carries every message and answer as bytes and delivers the answers late.

The live dataflow (:mod:`agents.partitions`) puts a Kafka topic between them. As there, the
records come in batches whose ids the coordinator recalls from the partitions first, and the
coordinator takes no record while an ask waits: the records wait with the driver. A seeded
random number decides whether the answers come before the next record or only after markers
(the end of the input), and when the coordinator is snapshotted and restored.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from sellerwatch.schemas.events import Event, Shipment
from sellerwatch.schemas.validation import Rejected
from sellerwatch.streams import remote
from sellerwatch.streams.engine import Engine
from sellerwatch.streams.partitioned import Shard, restore
from sellerwatch.streams.policy import Policy
from sellerwatch.streams.remote import RemoteCoordinator


class Loopback:
    """Partitions answering a :class:`RemoteCoordinator` through bytes, late."""

    def __init__(
        self,
        coordinator: RemoteCoordinator,
        *,
        seed: int = 0,
        late: float = 0.7,
        snapshots: float = 0.0,
        **options: Any,
    ) -> None:
        """``late``: the chance that answers wait one more record; ``snapshots``: the chance
        that the coordinator is snapshotted and restored between instants, per record."""
        self.coordinator = coordinator
        self.shards = [Shard(coordinator.policy, **options) for _ in coordinator.shards]
        self.answers: list[bytes] = []
        self.random = random.Random(seed)
        self.late = late
        self.snapshots = snapshots
        self.restored = 0
        self.recalls = 0

    def carry(self) -> None:
        """Each partition's messages as one record, applied; the answers wait to be read."""
        for index, messages in enumerate(self.coordinator.take_messages()):
            if not messages:
                continue
            replies = remote.apply_messages(self.shards[index], remote.encode_messages(messages))
            self.answers += [remote.encode_answer(index, *reply) for reply in replies]

    def deliver(self) -> None:
        """Hand the coordinator every partition's answer to its ask in flight."""
        coordinator = self.coordinator
        by_partition: dict[int, Any] = {}
        for blob in self.answers:
            index, number, answer = remote.decode_answer(blob)
            assert number == coordinator.asks, "an answer to another ask"
            assert index not in by_partition, "two answers from one partition"
            by_partition[index] = answer
        self.answers = []
        assert sorted(by_partition) == list(range(len(self.shards)))
        coordinator.answer([by_partition[i] for i in range(len(self.shards))])

    def step(self) -> None:
        """After a record: carry the messages; maybe deliver answers; maybe snapshot."""
        self.carry()
        while self.coordinator.asking is not None and self.random.random() >= self.late:
            self.deliver()
            self.carry()

    def ready(self) -> None:
        """Before a record: every instant answered (the driver holds records till then)."""
        self.drain()
        if (
            self.coordinator.asking is None
            and self.snapshots
            and self.random.random() < self.snapshots
        ):
            collect = self.coordinator.state
            restored = restore(self.coordinator.snapshot(), self.coordinator.policy)
            assert isinstance(restored, RemoteCoordinator)
            restored.collect(evidence=collect.collect_evidence, warnings=collect.collect_warnings)
            self.coordinator = restored
            self.restored += 1

    def drain(self) -> None:
        """Deliver until no instant waits."""
        self.carry()
        while self.coordinator.asking is not None:
            self.deliver()
            self.carry()


def remote_outputs(
    records: Sequence[Event | Rejected],
    policy: Policy | None,
    partitions: int,
    *,
    seed: int = 0,
    snapshots: float = 0.0,
    late: float = 0.7,
    **options: Any,
) -> tuple[Engine, Loopback]:
    """Feed ``records`` to a coordinator of ``partitions`` remote partitions and finish; the
    coordinator (which holds the outputs) and its loopback."""
    network = Loopback(
        RemoteCoordinator(policy, partitions=partitions, **options),
        seed=seed,
        snapshots=snapshots,
        late=late,
        **options,
    )
    batches = random.Random(seed + 1)
    feed(network, records, lambda: batches.randint(1, 40))
    network.coordinator.finish()
    network.drain()
    return network.coordinator, network


def feed(
    network: Loopback, records: Sequence[Event | Rejected], batch_size: Callable[[], int]
) -> None:
    """Feed ``records`` to the network's coordinator in batches of ``batch_size()`` records,
    as a driver reads them: each batch's ids and waybills recalled first, in one ask."""
    start = 0
    while start < len(records):
        batch = records[start : start + batch_size()]
        start += len(batch)
        network.ready()
        events = [r for r in batch if not isinstance(r, Rejected)]
        network.coordinator.recall(
            [e.event_id for e in events],
            [e.tracking_no for e in events if isinstance(e, Shipment)],
        )
        network.recalls += 1
        network.step()
        for record in batch:
            if isinstance(record, Rejected):
                network.coordinator.reject(record)  # counted only: it may come while one waits
            else:
                network.ready()
                network.coordinator.accept(record)
            network.step()

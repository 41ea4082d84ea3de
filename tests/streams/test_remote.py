"""A coordinator whose partitions answer elsewhere, late, gives one engine's outputs.

The partitions sit behind :class:`tests.loopback.Loopback`: every message and answer crosses
as bytes, answers arrive late (records wait with the driver meanwhile, as live), and the
coordinator is snapshotted and restored between instants at random.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import msgspec
import pytest

from sellerwatch.cli import main
from sellerwatch.schemas.validation import decode_event
from sellerwatch.streams import remote
from sellerwatch.streams.accounting import Outcome
from sellerwatch.streams.engine import Engine
from sellerwatch.streams.partitioned import Shard
from sellerwatch.streams.policy import Policy, load_policy
from sellerwatch.streams.remote import RemoteCoordinator
from sellerwatch.streams.snapshot import SnapshotError
from tests.builders import payment
from tests.loopback import remote_outputs
from tests.streams.test_partition_messages import taken

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "sample.jsonl.gz"
CAMPAIGN = ROOT / "examples" / "policies" / "618-2022.toml"
COLLECT: dict[str, Any] = {
    "collect_evaluations": True,
    "collect_evidence": True,
    "collect_warnings": True,
}


def _world(name: str, tmp_path: Path) -> tuple[Policy, list[Any]]:
    if name == "sample":
        with gzip.open(SAMPLE, "rb") as fh:
            return Policy(), [decode_event(line.rstrip(b"\n")) for line in fh]
    policy = load_policy(CAMPAIGN)
    events = tmp_path / "events.jsonl"
    options = ["--profile", "small", "--seed", "2", "--start", "2022-05-28"]
    assert main(["generate", *options, "--campaign", str(CAMPAIGN), "--out", str(events)]) == 0
    return policy, [decode_event(line) for line in events.read_bytes().splitlines()]


@pytest.mark.parametrize("world", ["sample", "campaign"])
@pytest.mark.parametrize("partitions", [1, 4])
def test_remote_partitions_answering_late_give_one_engines_outputs(
    world: str, partitions: int, tmp_path: Path
) -> None:
    policy, records = _world(world, tmp_path)
    single = Engine(policy, **COLLECT)
    for record in records:
        single.accept(record)
    single.finish()
    expected = taken(single)
    assert expected[0] and expected[2] and expected[3], "verdicts, evidence and warnings"
    coordinator, network = remote_outputs(
        records, policy, partitions, seed=partitions, snapshots=0.002, **COLLECT
    )
    # open orders: the coordinator knows the partitions' counts as of their last instant
    assert taken(coordinator)[:-1] == expected[:-1]
    assert network.restored > 3, "the coordinator was restored from its snapshot mid-stream"
    instants = coordinator.asks - network.recalls
    assert instants % 3 == 0 and instants >= 3 * 15, "three asks an instant, one a batch"
    # the id memory is the partitions': each holds the ids of its share, the coordinator none
    assert sum(len(s.ids) for s in network.shards) > 0 and len(coordinator.ids) == 0
    # the coordinator holds no order: they are all in the partitions
    assert sum(s.open_orders for s in network.shards) == expected[-1] > 0


def test_a_parked_coordinator_takes_no_record_until_its_ask_is_answered() -> None:
    coordinator = RemoteCoordinator(Policy(), partitions=2)
    coordinator.recall([])  # the batch's ids: none remembered yet
    coordinator.answer([{}, {}])
    coordinator.accept(payment("O1", "2024-06-03 10:00"))
    coordinator.accept(payment("O2", "2024-06-04 10:00"))  # W passes E of 06-04: an instant
    first = coordinator.take_messages()
    assert coordinator.asking is not None and coordinator.asking.step == "open_instant"
    assert sum(m[0] == "take_payment" for messages in first for m in messages) == 1
    # one engine would have applied O1 before judging the next record: so must this one
    with pytest.raises(RuntimeError, match="takes no record until it is answered"):
        coordinator.accept(payment("O3", "2024-06-05 10:00"))
    assert not any(coordinator.take_messages()), "nothing applied while the instant waits"
    with pytest.raises(SnapshotError, match="between instants"):
        coordinator.snapshot()


def test_a_partition_runs_only_the_messages_of_the_dataflow() -> None:
    shard = Shard(Policy())
    with pytest.raises(KeyError):
        remote.encode_messages([("snapshot", ())])
    asked = remote.encode_messages([("ask", 1, "housekeep_partition", (1, 2, 3))])
    with pytest.raises(SnapshotError, match="not a step a partition answers"):
        remote.apply_messages(shard, asked)
    with pytest.raises(SnapshotError, match="kinds and arguments disagree"):
        # one payment announced, none carried
        remote.apply_messages(shard, msgspec.msgpack.encode([1, b"\x00", *[[]] * 8]))
    with pytest.raises(SnapshotError, match="in format 0, not 2"):
        remote.apply_messages(shard, msgspec.msgpack.encode([0, b"", *[[]] * 8]))
    with pytest.raises(SnapshotError, match="damaged messages"):
        remote.apply_messages(shard, b"not msgpack")


def test_the_id_memory_is_the_partitions_and_a_batch_is_recalled_in_one_ask() -> None:
    """Each id lives in one partition; before a batch the coordinator asks each partition the
    ts its ids are remembered with, then decides every record of the batch itself (SPEC §7)."""
    coordinator = RemoteCoordinator(Policy(), partitions=2)
    shards = [Shard(Policy()) for _ in range(2)]

    def carry() -> list[Any]:
        answers: list[Any] = [None, None]
        for index, messages in enumerate(coordinator.take_messages()):
            for number, answer in remote.apply_messages(
                shards[index], remote.encode_messages(messages)
            ):
                assert number == coordinator.asks
                answers[index] = answer
        return answers

    first = payment("O1", "2024-06-03 10:00")
    with pytest.raises(RuntimeError, match="recalls a batch's ids"):
        coordinator.accept(first)
    coordinator.recall([first.event_id])
    coordinator.answer(carry())
    assert coordinator.accept(first) is Outcome.APPLIED
    assert coordinator.accept(first) is Outcome.DUPLICATE, "within the batch: remembered here"
    carry()
    held = [s for s in shards if len(s.ids)]
    assert len(held) == 1 and held[0].ids.seen == {first.event_id: first.ts}
    coordinator.recall([first.event_id, "never-seen"])
    answers = carry()
    assert sorted(map(len, answers)) == [0, 1], "each id asked of its own partition"
    coordinator.answer(answers)
    assert coordinator.accept(first) is Outcome.DUPLICATE, "the partition remembered it"
    assert coordinator.accounting.duplicate == 2 and not coordinator.ids


def test_a_batch_of_the_first_format_is_still_applied() -> None:
    shard = Shard(Policy())
    old = msgspec.msgpack.encode([1, b"\x06", *[[]] * 6, [20_000], []])
    assert remote.apply_messages(shard, old) == []

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
    assert coordinator.asks % 3 == 0 and coordinator.asks >= 3 * 15, "three asks an instant"
    # the coordinator holds no order: they are all in the partitions
    assert sum(s.open_orders for s in network.shards) == expected[-1] > 0


def test_a_parked_coordinator_takes_no_record_until_its_ask_is_answered() -> None:
    coordinator = RemoteCoordinator(Policy(), partitions=2)
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
    with pytest.raises(SnapshotError, match="not a step of an instant"):
        remote.apply_messages(shard, asked)
    with pytest.raises(SnapshotError, match="kinds and arguments disagree"):
        # one payment announced, none carried
        remote.apply_messages(shard, msgspec.msgpack.encode([1, b"\x00", *[[]] * 8]))
    with pytest.raises(SnapshotError, match="in format 0, not 1"):
        remote.apply_messages(shard, msgspec.msgpack.encode([0, b"", *[[]] * 8]))
    with pytest.raises(SnapshotError, match="damaged messages"):
        remote.apply_messages(shard, b"not msgpack")

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
from sellerwatch.streams.instant import Ask
from sellerwatch.streams.partitioned import Shard, partition_of, restore
from sellerwatch.streams.policy import Policy, load_policy
from sellerwatch.streams.remote import RemoteCoordinator
from sellerwatch.streams.snapshot import SnapshotError
from tests.builders import as_json, payment, pickup, shipment
from tests.loopback import Loopback, feed, remote_outputs
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


def published_verdicts(world: str, tmp_path: Path) -> list[Any]:
    """One engine's verdicts over a :func:`_world`, in the order it published them."""
    policy, records = _world(world, tmp_path)
    engine = Engine(policy)
    for record in records:
        engine.accept(record)
    engine.finish()
    return engine.take_verdicts()


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
    _assert_scans_kept_by_their_homes(coordinator, network)


def _assert_scans_kept_by_their_homes(coordinator: RemoteCoordinator, network: Loopback) -> None:
    """No waybill's scans in the coordinator's stage; in the partitions, each waybill's kept
    by its holders alike, or by its home while it has none; the coordinator keeps the scans
    of exactly the waybills its held shipments name (and those fetched for the last batch)."""
    assert not coordinator.waybills.scans and not coordinator.waybills.updates
    count = len(network.shards)
    for index, shard in enumerate(network.shards):
        book = shard.state.book
        for tracking in book.scans.keys() | book.updates.keys():
            holders = coordinator.shipped_in.get(tracking, 0)
            keeper = network.shards[coordinator.keeper_of(tracking, holders)].state.book
            assert keeper.scans.get(tracking) == book.scans.get(tracking), tracking
            assert keeper.updates.get(tracking) == book.updates.get(tracking), tracking
            assert holders >> index & 1 if holders else partition_of(tracking, count) == index
    held = {t: n for t, n in coordinator.shipping_refs.items() if n}
    assert held == coordinator._shipments_held()


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
    with pytest.raises(SnapshotError, match="in format 0, not 3"):
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
    assert sorted(len(answer[0]) for answer in answers) == [0, 1], (
        "each id asked of its own partition"
    )
    coordinator.answer(answers)
    assert coordinator.accept(first) is Outcome.DUPLICATE, "the partition remembered it"
    assert coordinator.accounting.duplicate == 2 and not coordinator.ids


def test_a_batch_of_the_first_format_is_still_applied() -> None:
    shard = Shard(Policy())
    old = msgspec.msgpack.encode([1, b"\x06", *[[]] * 6, [20_000], []])
    assert remote.apply_messages(shard, old) == []


def test_a_shipment_held_back_gets_what_its_waybills_home_kept_until_it_is_routed() -> None:
    """A shipment waits for W (the reorder buffer), then for its payment, while its waybill
    is scanned in later batches; its order lives on another partition than the waybill's
    home, which keeps the scans. Routed, the order's partition is given what the home kept
    at that record: the pickup joins, and one engine's outputs come out, however the
    records are cut into batches."""
    item = "I1"
    tracking = next(
        f"W{k}" for k in range(100) if partition_of(f"W{k}", 2) != partition_of(item, 2)
    )
    records = [
        payment("O0", "2024-06-03 09:00", item=item),
        shipment("O1", "2024-06-03 10:00", tracking=tracking),  # before its payment
        pickup(tracking, "2024-06-03 10:01"),
        pickup(tracking, "2024-06-03 11:00"),
        payment("O1", "2024-06-03 11:30", item=item),
        pickup(tracking, "2024-06-03 12:00"),
        payment("O2", "2024-06-05 10:00", item=item),
        payment("O3", "2024-06-09 10:00", item=item),
    ]
    single = Engine(Policy(), **COLLECT)
    for record in records:
        single.accept(record)
    single.finish()
    expected = taken(single)
    for size in (1, 2, 3, len(records)):
        network = Loopback(RemoteCoordinator(Policy(), partitions=2, **COLLECT), late=0.5)
        feed(network, records, lambda size=size: size)  # type: ignore[misc]
        network.coordinator.finish()
        network.drain()
        assert taken(network.coordinator)[:-1] == expected[:-1], f"batches of {size}"
        order = network.shards[partition_of(item, 2)].state.book.orders["O1"]
        assert order.pickup_ts == records[2].ts
        _assert_scans_kept_by_their_homes(network.coordinator, network)


class _BeforeHomes(RemoteCoordinator):
    """A coordinator as the version before the homes ran: it recalls a batch's ids only
    (format 2's ask) and keeps every scan in its stage."""

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self.waybill_homes = False

    def recall(self, event_ids: list[str], waybills: Any = ()) -> None:
        per_partition: list[list[str]] = [[] for _ in self.shards]
        for event_id in dict.fromkeys(event_ids):
            per_partition[partition_of(event_id, len(self.shards))].append(event_id)
        self._conversation = self._ids_only(per_partition)
        self._ask(next(self._conversation))

    def _ids_only(self, per_partition: list[list[str]]) -> Any:
        answers = yield Ask(remote.RECALL_IDS, [(ids,) for ids in per_partition])
        self.recalled = {k: v for answer in answers for k, v in answer.items()}


def test_a_coordinator_from_before_the_homes_keeps_its_scans_until_they_expire() -> None:
    """An upgrade: a coordinator snapshot written before the waybills' homes (every scan in
    its stage, no cache of shipping waybills) is read; its waybills stay in the stage until
    their scans expire, new ones go to their homes, and the outputs are one engine's."""
    with gzip.open(SAMPLE, "rb") as fh:
        records = [decode_event(line.rstrip(b"\n")) for line in fh]
    single = Engine(Policy(), **COLLECT)
    for record in records:
        single.accept(record)
    single.finish()
    expected = taken(single)
    cut = len(records) // 5
    network = Loopback(_BeforeHomes(Policy(), partitions=3, **COLLECT), late=0.5)
    feed(network, records[:cut], lambda: 25)
    network.drain()
    old = network.coordinator
    assert old.waybills.scans and old.shipping is None, "every scan in the stage, as before"
    verdicts = old.take_verdicts()
    for name in ("shipping", "shipping_refs", "waybill_homes"):  # fields it did not have
        delattr(old, name)
    restored = restore(old.snapshot(), old.policy)
    assert isinstance(restored, RemoteCoordinator) and not restored.waybill_homes
    legacy = set(restored.waybills.scans)
    network.coordinator = restored
    feed(network, records[cut:], lambda: 25)
    restored.finish()
    network.drain()
    assert verdicts + restored.take_verdicts() == expected[0]
    assert restored.accounting.as_dict() == expected[4]
    assert restored.orphans_dropped == expected[5]
    assert restored.waybill_homes
    # the stage took no new waybill, and let go of those whose scans expired
    assert set(restored.waybills.scans) < legacy
    homes = {t for shard in network.shards for t in shard.state.book.scans}
    assert homes - legacy, "the waybills first scanned since are kept by their homes"


def _parcel_shipped_twice() -> list[Any]:
    """Two orders shipped in one parcel on two days: by the second shipment's batch, the
    first was routed and no held shipment names the waybill (its scans are let go of here,
    and fetched again)."""
    events = [
        payment("O1", "2024-06-03 09:00", item="I1"),
        payment("O2", "2024-06-03 09:05", item="I2"),
        shipment("O1", "2024-06-03 10:00", tracking="P1"),
        pickup("P1", "2024-06-03 10:20"),
        payment("O3", "2024-06-04 00:10", item="I3"),  # the instant applies the first
        shipment("O2", "2024-06-04 01:00", tracking="P1"),
        pickup("P1", "2024-06-04 01:30"),
        payment("O4", "2024-06-05 10:00", item="I1"),
        payment("O5", "2024-06-09 10:00", item="I2"),
    ]
    return events


@pytest.mark.parametrize(("world", "cut", "batch"), [("sample", 6403, 30), ("parcel", 2, 1)])
def test_a_take_over_rebuilds_the_same_state_from_the_logged_answers_alone(
    world: str, cut: int, batch: int
) -> None:
    """A new owner of the coordinator restores its snapshot and re-applies the records read
    since, recalling each batch with no arguments and reading the answers from the log
    (``agents.coordinator``): what it asks and keeps (the waybills fetched for shipments,
    let go of when no held shipment names them) must follow from the answers alone, and it
    produces the outputs the first owner did."""
    if world == "sample":
        with gzip.open(SAMPLE, "rb") as fh:
            records = [decode_event(line.rstrip(b"\n")) for line in fh]
    else:
        records = _parcel_shipped_twice()
    logged: list[bytes] = []

    class Logged(Loopback):
        def deliver(self) -> None:
            before = self.coordinator.answer
            self.coordinator.answer = lambda answers: (  # type: ignore[method-assign]
                logged.append(remote.encode_answer(0, 0, answers)),  # as the log holds them
                before(answers),
            )[1]
            try:
                super().deliver()
            finally:
                del self.coordinator.answer

    network = Logged(RemoteCoordinator(Policy(), partitions=3, **COLLECT), late=0.5)
    feed(network, records[:cut], lambda: batch)
    network.drain()
    taken(network.coordinator)  # published before the snapshot
    blob = network.coordinator.snapshot()
    logged.clear()
    feed(network, records[cut:], lambda: batch)
    network.coordinator.finish()
    network.drain()
    first = taken(network.coordinator)

    rebuilt = restore(blob, Policy())
    assert isinstance(rebuilt, RemoteCoordinator)
    rebuilt.collect(evidence=True, warnings=True)
    answers = iter(logged)

    def answer_all() -> None:
        while rebuilt.asking is not None:
            rebuilt.answer(remote.decode_answer(next(answers))[2])
            rebuilt.take_messages()  # in the log already

    for start in range(cut, len(records), batch):
        answer_all()
        rebuilt.recall([])  # what it asked is in the log; the answers say what counts
        answer_all()
        for record in records[start : start + batch]:
            answer_all()
            rebuilt.accept(record)
    answer_all()
    rebuilt.finish()
    answer_all()
    assert next(answers, None) is None, "every logged answer read"
    assert taken(rebuilt)[:-1] == first[:-1]
    assert first[0] or world == "parcel"


def test_a_batch_of_raw_records_is_decoded_once_and_its_valid_ids_and_waybills_asked() -> None:
    """``recall_lines``: a driver hands the coordinator a batch of raw records before taking
    them; the ids and waybills of those that pass validation are asked, a poison record is
    asked nothing and is rejected when taken, and the outcomes are one engine's."""
    shipped = as_json(shipment("O1", "2024-06-03 11:00", tracking="W1"))
    lines = [
        as_json(payment("O1", "2024-06-03 10:00")),
        shipped,
        b'{"type":"shipment","event_id":"bad","tracking_no":"W9"}',  # no ts, no order
        shipped,  # a resend: a duplicate
        b"[[[",
    ]
    coordinator = RemoteCoordinator(Policy(), partitions=2)
    coordinator.recall_lines(lines)
    asked = [message for messages in coordinator.take_messages() for message in messages]
    ids = [i for message in asked for i in message[3][0]]
    waybills = [t for message in asked for t in message[3][1]]
    assert sorted(ids) == sorted({decode_event(line).event_id for line in lines[:2]})  # type: ignore[union-attr]
    assert waybills == ["W1"]
    coordinator.answer([({}, [t for t in waybills if partition_of(t, 2) == i], {}) for i in (0, 1)])
    single = Engine(Policy())
    for line in lines:
        assert coordinator.accept_raw(line) == single.accept_raw(line)
    assert coordinator.accounting.as_dict() == single.accounting.as_dict()

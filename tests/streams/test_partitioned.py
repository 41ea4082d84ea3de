"""The partitioned engine: the state split by item, the same outputs as one engine.

Every SPEC scenario (``tests.builders.run``) and every differential stream
(``tests.properties.test_differential.run_engine``) already runs partitioned too; here are the
facts that cross partitions, spelled out, and the shipped sample and Olist at every size.
"""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path
from typing import Any

import pytest

from sellerwatch.replay import replay
from sellerwatch.schemas.events import Event
from sellerwatch.schemas.validation import Rejected, decode_event
from sellerwatch.streams import snapshot as snapshot_codec
from sellerwatch.streams.engine import Engine
from sellerwatch.streams.partitioned import (
    PartitionedEngine,
    _bits,
    partition_of,
    publication_order,
)
from tests.builders import (
    Outputs,
    assert_partitions_agree,
    at,
    clock_tick,
    enroll,
    outputs,
    payment,
    pickup,
    refund,
    shipment,
    subsidy,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "sample.jsonl.gz"
OLIST = Path(os.environ.get("OLIST_EVENTS", ROOT.parent / "shared/data/olist/events.jsonl.gz"))


def _items_on_two_partitions() -> tuple[str, str]:
    """Two item ids that two partitions hold apart."""
    first = "IA"
    other = next(f"I{k}" for k in range(100) if partition_of(f"I{k}", 2) != partition_of(first, 2))
    return first, other


def _same_everywhere(events: list[Event]) -> Outputs:
    expected = outputs(Engine(collect_evaluations=True), events)
    for partitions in (2, 3, 8):
        assert_partitions_agree(expected, events, None, partitions, collect_evaluations=True)
    return expected


def test_an_item_and_its_orders_live_in_one_partition_whatever_the_run() -> None:
    assert [partition_of("I0000001", n) for n in (1, 2, 8)] == [0, 0, 6]  # crc32: stable
    first, other = _items_on_two_partitions()
    engine = PartitionedEngine(partitions=2)
    engine.accept(payment("O1", "2021-07-05 10:00", item=first))
    engine.accept(payment("O2", "2021-07-05 10:00", item=other))
    engine.accept(clock_tick("2021-07-05 11:00"))
    engine.finish()
    held = {order_id: i for i, s in enumerate(engine.shards) for order_id in s.state.book.orders}
    assert held == {"O1": partition_of(first, 2), "O2": partition_of(other, 2)}


def test_a_parcel_of_two_items_on_two_partitions_is_paid_as_one_package() -> None:
    """The same-day-ship incentive pays per distinct waybill of the shop's week: a parcel that
    carries orders of items held apart is still one package (SPEC §4.1)."""
    first, other = _items_on_two_partitions()
    events: list[Event] = [enroll("S1", "2021-06-01 09:00")]
    for i in range(2100):
        day = 5 + i % 7
        tracking = f"P{i // 2}"
        shipped = f"2021-07-{day:02d} 19:00"
        item = first if i % 2 == 0 else other
        events.append(payment(f"O{i}", f"2021-07-{day:02d} 10:00", item=item))
        events.append(shipment(f"O{i}", shipped, tracking=tracking))
        if i % 2 == 0:
            events.append(pickup(tracking, shipped))
    events.append(clock_tick("2021-07-14 00:00:01"))
    events.sort(key=lambda e: e.ts)
    verdicts = _same_everywhere(events)[0]
    (incentive,) = [v for v in verdicts if v.rule == "same_day_ship"]
    assert incentive.details["packages"] == 1050
    assert incentive.amount_cents == 20 * 1050


def test_a_category_spread_over_partitions_is_judged_by_its_whole_rate() -> None:
    """An item is judged against its category's rate over every item of it (SPEC §4.4)."""
    first, other = _items_on_two_partitions()
    events: list[Event] = []
    for i in range(60):
        item = first if i < 20 else other
        events.append(payment(f"O{i}", "2021-07-05 10:00", item=item, category="C9"))
        if i < 12:
            events.append(refund(f"O{i}", "2021-07-06 10:00"))
    events.append(clock_tick("2021-08-10 00:00:01"))
    _same_everywhere(sorted(events, key=lambda e: e.ts))


def test_a_shipment_before_its_payment_waits_and_joins_in_the_item_partition() -> None:
    first, other = _items_on_two_partitions()
    events: list[Event] = [
        shipment("O1", "2021-07-05 09:59", tracking="W1"),
        pickup("W1", "2021-07-05 09:59:30"),
        payment("O1", "2021-07-05 10:00", item=other),
        payment("O2", "2021-07-05 10:00", item=first),
        shipment("O2", "2021-07-05 11:00", tracking="W1"),
        pickup("NEVER", "2021-07-05 12:00"),  # a waybill nobody ships under: an orphan
        clock_tick("2021-07-20 00:00"),
    ]
    expected = _same_everywhere(events)
    assert expected[3] == 1  # the never-shipped waybill's scan, counted once


def test_each_partition_counts_the_records_it_was_given_and_keeps_them_in_its_snapshot() -> None:
    """An operator sees each partition's share of the work: an order's records where its item
    lives, a scan at each partition that ships under its waybill, a plan record everywhere."""
    first, other = _items_on_two_partitions()
    a, b = partition_of(first, 2), partition_of(other, 2)
    engine = PartitionedEngine(partitions=2)
    for event in [
        enroll("S1", "2021-07-01 09:00"),
        shipment("O1", "2021-07-05 09:59", tracking="W1"),  # waits for its payment
        payment("O1", "2021-07-05 10:00", item=first),
        payment("O2", "2021-07-05 10:00", item=other),
        shipment("O2", "2021-07-05 11:00", tracking="W1"),
        pickup("W1", "2021-07-05 12:00"),
        refund("O2", "2021-07-06 10:00"),
        clock_tick("2021-07-07 00:00"),
    ]:
        engine.accept(event)
    engine.finish()
    taken = [shard.taken for shard in engine.shards]
    assert taken[a] == {"enrollment": 1, "payment": 1, "shipment": 1, "pickup_scan": 1}
    assert taken[b] == {"enrollment": 1, "payment": 1, "shipment": 1, "pickup_scan": 1, "refund": 1}
    shard = engine.shards[b]
    assert type(shard).restore(shard.snapshot()).taken == taken[b]
    older = {k: v for k, v in shard.__getstate__().items() if k != "taken"}
    blob = snapshot_codec.dumps(older, shard.policy)  # written before the counts
    assert type(shard).restore(blob).taken == {}


def test_the_shipped_sample_replays_the_same_for_every_partition_count() -> None:
    def run(partitions: int) -> tuple[bytes, bytes, list[str]]:
        out, metrics = io.BytesIO(), io.BytesIO()
        summary = replay([str(SAMPLE)], out=out, metrics=metrics, partitions=partitions)
        return out.getvalue(), metrics.getvalue(), summary.lines()

    expected = run(1)
    assert expected[0] == (ROOT / "examples" / "sample-verdicts.jsonl").read_bytes()
    for partitions in range(2, 9):
        assert run(partitions) == expected, f"{partitions} partitions"


def test_olist_gives_the_same_verdicts_figures_and_books_partitioned() -> None:
    if not OLIST.exists():
        pytest.skip(f"{OLIST} absent (set OLIST_EVENTS)")
    with gzip.open(OLIST, "rb") as fh:
        decoded = [decode_event(line.rstrip(b"\n")) for line in fh]
    events = [e for e in decoded if not isinstance(e, Rejected)]
    assert len(events) == len(decoded)
    expected = outputs(Engine(collect_evaluations=True), events)
    assert len(expected[0]) > 10_000
    for partitions in (2, 5, 8):
        assert_partitions_agree(expected, events, None, partitions, collect_evaluations=True)


def test_a_partitioned_engine_needs_a_partition() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        PartitionedEngine(partitions=0)


class _CheckedPrune(PartitionedEngine):
    """After every retention pass: a shard is a waybill's holder exactly while it still holds
    the waybill's order, scans or updates (what a walk over every waybill would keep); the
    directory still routes every order id a shard holds (it forgot ids by W alone until
    session 13, while the shards evict by the instant's day); a waybill's scans are kept by
    its holders alike, or by its home while it has none, and by no one else."""

    passes = 0

    def _conclude(
        self, day: int, decided_at: int, watermark: int | None, closed: list[Any], expiring: Any
    ) -> None:
        super()._conclude(day, decided_at, watermark, closed, expiring)
        self.passes += 1
        routed = self.placed.placed
        for shard in self.shards:
            lost = [order_id for order_id in shard.state.book.orders if order_id not in routed]
            assert not lost, f"held by a shard, forgotten by the directory: {lost[:3]}"
        for tracking, holders in self.shipped_in.items():
            assert holders, tracking
            for index in _bits(holders):
                book = self.shards[index].state.book
                assert (
                    tracking in book.by_tracking
                    or tracking in book.scans
                    or tracking in book.updates
                ), (tracking, index)
        # the scans are the partitions': kept by the holders of their waybill (the same
        # copy in each), or by its home while it has none; none in the coordinator
        assert not self.waybills.scans and not self.waybills.updates
        count = len(self.shards)
        for index, shard in enumerate(self.shards):
            for tracking, kept in shard.state.book.scans.items():
                holders = self.shipped_in.get(tracking, 0)
                keeper = self.shards[self.keeper_of(tracking, holders)].state.book
                assert keeper.scans.get(tracking) == kept, (tracking, index)
                assert holders >> index & 1 if holders else partition_of(tracking, count) == index


@pytest.mark.parametrize("source", [SAMPLE, OLIST], ids=["sample", "olist"])
def test_a_partition_lets_go_of_a_waybill_when_it_no_longer_needs_its_scans(
    source: Path,
) -> None:
    if not source.exists():
        pytest.skip(f"{source} absent (set OLIST_EVENTS)")
    with gzip.open(source, "rb") as fh:
        decoded = [decode_event(line.rstrip(b"\n")) for line in fh]
    engine = _CheckedPrune(partitions=4)
    outputs(engine, decoded)
    assert engine.passes > 5
    books = [s.state.book for s in engine.shards]
    held = sum(len(b.by_tracking.keys() | b.scans.keys() | b.updates.keys()) for b in books)
    pending = sum(len(b.released_waybills or ()) for b in books)  # re-checked at the next pass
    assert sum(len(_bits(h)) for h in engine.shipped_in.values()) <= held + pending


def test_a_snapshot_from_before_the_bit_masks_is_read() -> None:
    """Coordinators wrote ``tracking_no -> set of shards`` before; such a snapshot restores to
    the same holders, and the rest of the stream gives the same outputs."""
    with gzip.open(SAMPLE, "rb") as fh:
        decoded = [decode_event(line.rstrip(b"\n")) for line in fh]
    half = len(decoded) // 2
    engine = PartitionedEngine(partitions=4, collect_evaluations=True)
    outputs(engine, decoded[:half])
    masks = dict(engine.shipped_in)
    assert masks  # waybills are held
    engine.shipped_in = {t: set(_bits(m)) for t, m in masks.items()}  # type: ignore[misc]
    restored = PartitionedEngine.restore(engine.snapshot())
    assert restored.shipped_in == masks
    engine.shipped_in = masks
    assert outputs(restored, decoded[half:]) == outputs(engine, decoded[half:])


def test_an_id_paid_before_the_order_horizon_leaves_the_directory_and_changes_nothing() -> None:
    """The coordinator's directory keeps an id's partition only within the order horizon (35
    days): a shipment for an older order joins it and changes nothing (not an orphan, its
    waybill's scans orphans as in one engine), and the id paid again is a new order."""
    first, other = _items_on_two_partitions()
    events: list[Event] = [
        payment("O1", "2021-07-01 10:00", item=first),
        shipment("O1", "2021-07-01 12:00", tracking="W1"),
        pickup("W1", "2021-07-01 13:00"),
        clock_tick("2021-08-15 00:00"),
        shipment("O1", "2021-08-15 09:00", tracking="W2"),  # joins the evicted order
        pickup("W2", "2021-08-15 09:30"),  # no order ships under W2: an orphan
        refund("O1", "2021-08-15 10:00", reason="quality"),
        payment("O1", "2021-08-16 10:00", item=other),  # not a second payment: a new order
        shipment("O1", "2021-08-16 12:00", tracking="W3"),
        pickup("W3", "2021-08-16 13:00"),
        clock_tick("2021-09-20 00:00"),
    ]
    expected = _same_everywhere(events)
    assert expected[2]["rejected"] == 0 and expected[3] == 1
    engine = PartitionedEngine(partitions=2)
    outputs(engine, events[:5])
    assert engine.placed.paid_ts("O1") is None and engine.placed.ever_placed("O1")


def test_a_refund_applied_after_w_jumped_past_the_horizon_still_reaches_its_order() -> None:
    """W can run far ahead of the instants still to evaluate (a late-arriving partition, a
    catch-up): here one record moves it two months on, and the instants of those two months
    are then evaluated one by one, each applying the events before it. The refund of 07-08
    00:02 is applied after the instant of 07-08 00:00, while its order, paid 07-04, is held
    (orders are evicted by the instant's day, not by W), and one engine counts it in the
    item's quality rate. The coordinator's directory used to forget the order by W alone, at
    that instant, and dropped the refund (found by the differential streams)."""
    first, _ = _items_on_two_partitions()
    events: list[Event] = [
        subsidy(first, "2021-07-02 01:00"),  # in scope of the quality rule
        *(payment(f"O{k}", "2021-07-04 16:00", item=first) for k in range(10)),
        *(refund(f"O{k}", "2021-07-04 17:00") for k in range(6)),
        # joins O6, paid four days before; within the lateness after the instant of 07-08, so
        # it waits for W while that instant does not, and W jumps before either is taken
        refund("O6", "2021-07-08 00:02"),
        clock_tick("2021-09-01 16:00"),  # W: two months on, in one record
    ]
    expected = _same_everywhere(events)
    rates = [
        (e.decided_at, e.numerator, e.denominator)
        for e in expected[1]
        if e.rule == "quality_refund" and e.subject == first
    ]
    assert (at("2021-07-09 00:00"), 7, 10) in rates, "the refund of 07-08 counts"
    outputs(_CheckedPrune(partitions=2), events)  # the directory kept O6 while it was held


def test_a_snapshot_from_before_the_bounded_directory_is_read() -> None:
    """Coordinators kept ``order_id -> paid_ts · N + shard`` in a dict forever; such a snapshot
    restores to a directory that gives the rest of the stream the same outputs."""
    with gzip.open(SAMPLE, "rb") as fh:
        decoded = [decode_event(line.rstrip(b"\n")) for line in fh]
    half = len(decoded) // 2
    engine = PartitionedEngine(partitions=3, collect_evaluations=True)
    outputs(engine, decoded[:half])
    directory = engine.placed
    assert len(directory) > 100
    engine.placed = dict(directory.placed)  # type: ignore[assignment]  # as written before
    restored = PartitionedEngine.restore(engine.snapshot())
    assert restored.placed.placed == directory.placed
    engine.placed = directory
    assert outputs(restored, decoded[half:]) == outputs(engine, decoded[half:])


def test_a_snapshot_from_when_the_coordinator_held_the_ids_is_read() -> None:
    """Coordinators held the whole id memory before the partitions did: restored, it is
    consulted beside the partitions' until it is all behind the horizon, and the rest of the
    stream gives the same outputs (the sample's resends are duplicates across the cut)."""
    from sellerwatch.streams.ids import IdMemory

    with gzip.open(SAMPLE, "rb") as fh:
        decoded = [decode_event(line.rstrip(b"\n")) for line in fh]
    half = len(decoded) // 2
    engine = PartitionedEngine(partitions=3, collect_evaluations=True)
    for record in decoded[:half]:
        engine.accept(record) if not isinstance(record, Rejected) else engine.reject(record)
    whole = IdMemory(engine.policy.dedupe_horizon_ms)
    for shard in engine.shards:
        for event_id, ts in shard.ids.seen.items():
            whole.remember(event_id, ts)
    assert len(whole) > 1000
    held = [shard.ids for shard in engine.shards]
    for shard in engine.shards:  # as an older version wrote it: the partitions held no id
        shard.ids = IdMemory(engine.policy.dedupe_horizon_ms)
    keyed, engine.ids = engine.ids, whole  # type: ignore[assignment]
    restored = PartitionedEngine.restore(engine.snapshot())
    assert restored.legacy_ids is not None and len(restored.legacy_ids) == len(whole)
    assert not any(len(shard.ids) for shard in restored.shards)
    for shard, ids in zip(engine.shards, held, strict=True):
        shard.ids = ids
    engine.ids = keyed
    assert outputs(restored, decoded[half:]) == outputs(engine, decoded[half:])
    assert restored.legacy_ids is None, "forgotten once all behind the horizon"


def test_a_snapshot_from_before_the_waybills_homes_is_read() -> None:
    """Coordinators kept every waybill's scans in their stage before the homes did: such a
    snapshot restores, its waybills stay in the stage until their scans expire (new ones go
    to their homes), and the rest of the stream gives one engine's outputs."""
    with gzip.open(SAMPLE, "rb") as fh:
        decoded = [decode_event(line.rstrip(b"\n")) for line in fh]
    cut = len(decoded) // 5
    expected = outputs(Engine(collect_evaluations=True), decoded)
    engine = PartitionedEngine(partitions=3, collect_evaluations=True)
    engine.waybill_homes = False  # as the version before: every scan into the stage
    for record in decoded[:cut]:
        engine.accept(record) if not isinstance(record, Rejected) else engine.reject(record)
    legacy = set(engine.waybills.scans)
    assert legacy
    for name in ("shipping", "shipping_refs", "waybill_homes"):  # fields it did not have
        delattr(engine, name)
    restored = PartitionedEngine.restore(engine.snapshot())
    assert restored.waybill_homes and set(restored.waybills.scans) == legacy
    assert outputs(restored, decoded[cut:]) == expected
    assert set(restored.waybills.scans) < legacy, "the stage took none since, let some go"


@pytest.mark.parametrize("world", ["sample", "campaign"])
def test_verdicts_read_back_from_their_topics_sort_into_the_order_they_were_published(
    world: str, tmp_path: Path
) -> None:
    """The read model is rebuilt from the verdict topics (one per kind, several partitions);
    sorted by ``publication_order`` they are in the engine's own order (SPEC §4.5), so the
    latest verdict of a kind about a shop's items is the one the worker wrote."""
    from tests.streams.test_remote import published_verdicts

    published = published_verdicts(world, tmp_path)
    assert len({v.rule for v in published}) >= (2 if world == "sample" else 1)
    shuffled = sorted(published, key=lambda v: (v.topic, hash(v.subject) % 4, v.verdict_id))
    assert sorted(shuffled, key=publication_order) == published

"""The engine with its order state split into partitions keyed by ``item_id``.

Every per-item rule reads one item's orders, so an item — and every order paid for it — lives
in exactly one partition (``crc32(item_id) % N``), which runs the rules over its share. What
crosses items is kept apart, each in one place:

========================  ======================================================================
fact                      where it lives
========================  ======================================================================
lateness, W, duplicates   the coordinator (this engine): a record is classified once, on entry
id memory                 the partitions, keyed by ``event_id``: each recalls the ts it remembers
                          an id with, and the coordinator decides with its own W
second payment            the coordinator: its order directory keeps each id's latest ``paid_ts``
                          within the order horizon (:mod:`streams.directory`)
shipments and refunds     routed by ``order_id`` to the partition of its latest payment
pickup scans              kept in the partitions: by the partitions that ship under the
                          waybill (each a copy: its *holders*), or while none does by its *home*
                          (``crc32(tracking_no) % N``); a holder is given the scans kept so far
                          (and a home then lets go of them). An expired scan is an orphan unless
                          some partition ships under its waybill: the partitions say which
                          waybills' scans expired, how many, and which they ship under
waiting events            shipments and refunds before any payment wait in the coordinator's
                          :class:`WaybillStage`, and move with the payment
exemptions, enrollments   broadcast: the coordinator and every partition apply each to their copy
subsidies                 the item's partition
a shop's week (§4.1)      figures per partition, merged and settled here
categories (§4.4)         counts per partition, summed here for every partition
========================  ======================================================================

The partitions apply their events in the coordinator's global ``(ts, arrival)`` order and are
evaluated at the coordinator's instants, so the state each rule reads at ``E`` is "all events
with ``ts < E``" exactly as in one engine, and the verdicts, evaluations and books are the same
whatever ``N`` (``tests/streams/test_partitioned.py``). This is the dataflow of a scaled-out
deployment run in one process: each partition's state and rules are what one worker would hold.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any, Self

from sellerwatch.schemas.events import (
    Enrollment,
    Event,
    Exemption,
    Payment,
    PickupScan,
    Refund,
    Shipment,
    Subsidy,
)
from sellerwatch.schemas.verdict import CampaignEvaluation, Evaluation, Verdict
from sellerwatch.streams import snapshot as snapshot_codec
from sellerwatch.streams.accounting import Outcome
from sellerwatch.streams.directory import OrderDirectory
from sellerwatch.streams.engine import PUBLISHED_ORDER, Engine
from sellerwatch.streams.ids import HeldElsewhere, IdMemory
from sellerwatch.streams.orders import OrderBook, expired_waiting, latest, scan_count
from sellerwatch.streams.policy import Policy
from sellerwatch.streams.rules import campaign_fulfilment
from sellerwatch.streams.snapshot import SnapshotError
from sellerwatch.streams.state import State


def _bits(mask: int) -> list[int]:
    """The indexes of the bits set in ``mask``, ascending."""
    found = []
    while mask:
        low = mask & -mask
        found.append(low.bit_length() - 1)
        mask ^= low
    return found


def _as_masks(holders: dict[str, Any]) -> dict[str, int]:
    """``tracking_no -> set of shard indexes`` as bit masks."""
    return {tracking: sum(1 << i for i in set(indexes)) for tracking, indexes in holders.items()}


def partition_of(key: str, partitions: int) -> int:
    """The partition of a key, stable across runs and machines: an ``item_id``'s holds the
    item and its orders, an ``event_id``'s remembers the id, a ``tracking_no``'s is the
    waybill's home, which keeps its scans."""
    return zlib.crc32(key.encode()) % partitions


def _copy(kept: int | list[int] | None) -> int | list[int] | None:
    """A waybill's kept instants for another book (a list is appended to where it is kept)."""
    return list(kept) if type(kept) is list else kept


class PartitionedEngine(Engine):
    """An :class:`Engine` whose orders and per-item rules run in ``partitions`` shards."""

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        partitions: int = 2,
        collect_evaluations: bool = False,
        collect_evidence: bool = False,
        collect_warnings: bool = False,
        idle_timeout_ms: int | None = None,
        lateness_ms: int | None = None,
    ) -> None:
        """A fresh engine of ``partitions`` shards (the other arguments as :class:`Engine`)."""
        if partitions < 1:
            raise ValueError(f"partitions must be at least 1, not {partitions}")
        super().__init__(
            policy,
            collect_evaluations=collect_evaluations,
            collect_evidence=collect_evidence,
            collect_warnings=collect_warnings,
            idle_timeout_ms=idle_timeout_ms,
            lateness_ms=lateness_ms,
        )
        policy = self.policy
        self.shards = [
            Shard(
                policy,
                collect_evaluations=collect_evaluations,
                collect_evidence=collect_evidence,
                collect_warnings=collect_warnings,
            )
            for _ in range(partitions)
        ]
        #: order_id -> the shard and ``paid_ts`` of its latest applied payment, within the
        #: order horizon: where its shipments and refunds go, and what a second payment is
        #: checked against, without asking the shard (:meth:`_paid_ts`).
        self.placed = OrderDirectory(partitions)
        #: tracking_no -> the shards that hold a copy of its scans, as a bit mask (bit i:
        #: shard i): a set per waybill cost a third of the coordinator's state.
        self.shipped_in: dict[str, int] = {}
        #: The shipments and refunds that wait for a first payment; and, in a coordinator
        #: restored from a snapshot of before the waybills' homes, the scans it kept of every
        #: waybill, the one place those are kept until they expire (*legacy* waybills).
        self.waybills = WaybillStage(policy)
        #: What the homes keep of the waybills that shipments taken here and not yet routed
        #: name (waiting for ``W`` or for their payment): fetched before the batch that
        #: brought the shipment, then kept as the homes keep them (every scan added, expired
        #: at every instant), so a partition that ships under one is given what its home
        #: keeps at that record (a coordinator of remote partitions,
        #: :meth:`RemoteCoordinator.recall`). ``None``: the homes are here, asked as it comes.
        self.shipping: OrderBook | None = None
        #: Per waybill in :attr:`shipping`, how many of those shipments name it (0: fetched
        #: for the batch being taken, or no longer needed, and let go at the next batch).
        self.shipping_refs: dict[str, int] = {}
        #: Whether scans go to the waybills' homes: not in a coordinator restored from a
        #: snapshot of before them, until its partitions answer a recall in the format of
        #: the homes (a rebuild re-reads the log its older self wrote, and must send what
        #: that one sent: every scan into the stage).
        self.waybill_homes = True
        #: The id memory is the shards' (an id lives in shard ``crc32(event_id) % N``): the
        #: coordinator decides duplicates from the ts its shard remembers the id with.
        self.ids = HeldElsewhere()  # type: ignore[assignment]
        self._dedupe_horizon_ms = policy.dedupe_horizon_ms
        #: What the shards recalled of the ids of the batch being taken, and the ids it
        #: remembered since (a coordinator of remote shards, :meth:`RemoteCoordinator.recall`);
        #: ``None``: the shards are here and each id is asked of its shard as it comes.
        self.recalled: dict[str, int] | None = None
        #: The ids a coordinator remembered itself before its shards held them (a snapshot of
        #: an older version), consulted until they are all behind the horizon.
        self.legacy_ids: IdMemory | None = None

    # -- classifying ----------------------------------------------------------------------
    def accept(self, event: Event, partition: object = 0) -> Outcome:
        """As :meth:`Engine.accept`, with the duplicate check against the shards' id memory
        first (SPEC §7: a record is a duplicate iff its id is remembered with
        ``ts >= W - dedupe_horizon``; if not, it is remembered with its own ts)."""
        if self._seen_again(event.event_id, event.ts, self.clock.watermark):
            accounting = self.accounting
            accounting.records_in += 1
            accounting.duplicate += 1
            return Outcome.DUPLICATE
        if self.shipping is None or type(event) is not Shipment:
            return super().accept(event, partition)
        refs, tracking = self.shipping_refs, event.tracking_no
        if tracking not in refs:
            raise RuntimeError(
                f"waybill {tracking!r} was not fetched from its home before the batch: a "
                "coordinator of remote partitions is given the batch's waybills with its ids"
            )
        refs[tracking] += 1  # before: the shipment may be routed at once
        outcome = super().accept(event, partition)
        if outcome is not Outcome.APPLIED:
            refs[tracking] -= 1
        return outcome

    def _seen_again(self, event_id: str, ts: int, watermark: int | None) -> bool:
        shard = self.shards[partition_of(event_id, len(self.shards))]
        recalled = self.recalled
        if recalled is None:
            remembered = shard.remembered(event_id)  # the shard is here: asked as it comes
        else:
            remembered = recalled.get(event_id)
        legacy = self.legacy_ids
        if legacy is not None:
            before = legacy.seen.get(event_id)
            if before is not None and (remembered is None or before > remembered):
                remembered = before
        if remembered is not None and (
            watermark is None or remembered >= watermark - self._dedupe_horizon_ms
        ):
            return True
        if recalled is not None:
            recalled[event_id] = ts
        shard.take_remembered(event_id, ts)
        return False

    # -- routing --------------------------------------------------------------------------
    def _dispatch(self) -> dict[type, Any]:
        return {
            Payment: self._route_payment,
            Shipment: self._route_order_event,
            Refund: self._route_order_event,
            PickupScan: self._route_scan,
            Exemption: self._broadcast,
            Enrollment: self._broadcast,
            Subsidy: self._route_subsidy,
        }

    def _route_payment(self, event: Payment) -> None:
        """The order goes to its item's shard, with what waited for it.

        Only an id never paid has waiting events, and they wait here: a shard's book never
        keeps any. A shipment or refund goes to the shard of its id's latest payment, which
        holds that order or evicted it; an evicted order was paid before the evaluation that
        evicted it, so before every event applied since, which therefore joins it (SPEC §7)
        and waits for nothing. A reused id paid again, on any shard, brings no waiting events.
        """
        order_id = event.order_id
        self._pending_payments.discard(order_id)
        index = partition_of(event.item_id, len(self.shards))
        shard = self.shards[index]
        placed = self.placed
        orphans = self.waybills.orphans
        early = (
            orphans.pop(order_id)
            if order_id in orphans and not placed.ever_placed(order_id)
            else None
        )
        if early:
            for waiting in early:
                if type(waiting) is Shipment:
                    self._associate(waiting.tracking_no, index)
                    self._routed(waiting)
        placed.place(order_id, event.ts, index)
        shard.take_payment(event, early)

    def _route_order_event(self, event: Shipment | Refund) -> None:
        """To the shard of the order's latest payment, or wait here for the first one.

        An id that left the directory (its latest payment behind the order horizon, and its
        order evicted from its shard) joins that evicted order, which no window reads: its
        shard would drop the event, so it is not sent (nor its waybill's scans: no order of
        that shard ships under it, so they stay orphans)."""
        index = self.placed.partition(event.order_id)
        if index is None:
            if event.order_id not in self.placed.before:
                self.waybills.orphans.setdefault(event.order_id, []).append(event)
            else:
                self._routed(event)
            return
        if type(event) is Shipment:
            self._associate(event.tracking_no, index)
            self._routed(event)
        self.shards[index].take_order_event(event)

    def _route_scan(self, event: PickupScan) -> None:
        """To every shard that holds the waybill, or to its home while none does (a legacy
        waybill's: into the stage, and to its holders)."""
        if event.scan != "pickup" and not self.policy.campaigns:
            return  # no book keeps it
        tracking = event.tracking_no
        if tracking in self.shipping_refs:
            self.shipping.add_scan(event)  # type: ignore[union-attr]
        holders = self.shipped_in.get(tracking, 0)
        if self._legacy(tracking):
            self.waybills.add_scan(event)
        elif not holders:
            self.shards[partition_of(tracking, len(self.shards))].take_scan(event)
            return
        for index in _bits(holders):
            self.shards[index].take_scan(event)

    def _legacy(self, tracking_no: str) -> bool:
        """Whether the waybill's scans are kept in the stage (a coordinator restored from a
        snapshot of before the homes), not at its home, until they expire."""
        if not self.waybill_homes:
            return True
        stage = self.waybills
        scans, updates = stage.scans, stage.updates
        return bool(scans or updates) and (tracking_no in scans or tracking_no in updates)

    def _associate(self, tracking_no: str, index: int) -> None:
        """Give a shard that ships under ``tracking_no`` the waybill's scans so far; the first
        such shard takes them over from the waybill's home."""
        holders = self.shipped_in.get(tracking_no, 0)
        if holders >> index & 1:
            return
        self.shipped_in[tracking_no] = holders | 1 << index
        scans: int | list[int] | None
        updates: int | list[int] | None
        if self._legacy(tracking_no):
            stage = self.waybills
            scans, updates = stage.scans.get(tracking_no), stage.updates.get(tracking_no)
            self.shards[index].take_waybill(tracking_no, _copy(scans), _copy(updates))
            return
        keeper = self.keeper_of(tracking_no, holders)
        if keeper == index:  # its home: it keeps them already (only re-checked at retention)
            self.shards[index].take_waybill(tracking_no, None, None)
            return
        scans, updates = self._kept_scans(tracking_no, keeper)
        self.shards[index].take_waybill(tracking_no, scans, updates)
        if not holders:  # the home lets go: kept in one place, where orders ship under it
            self.shards[keeper].drop_waybill(tracking_no)

    def keeper_of(self, tracking_no: str, holders: int) -> int:
        """The shard whose copy of the waybill's scans another is given: its first holder,
        or its home while it has none."""
        if holders:
            return (holders & -holders).bit_length() - 1
        return partition_of(tracking_no, len(self.shards))

    def _kept_scans(self, tracking_no: str, keeper: int) -> tuple[int | list[int] | None, ...]:
        """A copy of the scans and updates a waybill's keeper keeps now (fetched with the
        batch, and kept since, when the partitions are elsewhere)."""
        shipping = self.shipping
        if shipping is None:
            return self.shards[keeper].kept_scans(tracking_no)
        return _copy(shipping.scans.get(tracking_no)), _copy(shipping.updates.get(tracking_no))

    def _routed(self, event: Shipment | Refund) -> None:
        """A shipment taken here no longer waits (routed, or dropped): its waybill's scans
        are kept here for it no more."""
        if self.shipping is not None and type(event) is Shipment:
            self.shipping_refs[event.tracking_no] -= 1

    def _broadcast(self, event: Exemption | Enrollment) -> None:
        """A fact that spans items (a region's exemption, a shop's enrollment): the
        coordinator's copy (a shop's week is settled here) and every partition's."""
        self._apply_program(self.state, event)
        for shard in self.shards:
            shard.take_broadcast(event)

    @staticmethod
    def _apply_program(state: State, event: Exemption | Enrollment) -> None:
        if type(event) is Exemption:
            state.exemptions.apply(event)
        else:
            state.plan.apply(event)  # type: ignore[arg-type]

    def _route_subsidy(self, event: Subsidy) -> None:
        self.shards[partition_of(event.item_id, len(self.shards))].take_subsidy(event)

    def _paid_ts(self, order_id: str) -> int | None:
        """The latest payment's ``paid_ts``, also when its shard has forgotten it: a shard
        forgets a ``paid_ts`` only once it is before ``W - order_horizon``, where W is this
        engine's, and W only grows, so the second-payment check gives the same answer."""
        return self.placed.paid_ts(order_id)

    # -- evaluation -----------------------------------------------------------------------
    def _shards(self) -> Sequence[Engine]:
        return self.shards

    def _merge(self, per_shard: list[list[Verdict]]) -> list[Verdict]:
        """Concatenate and restore SPEC §4.5 order."""
        verdicts = [v for shard_verdicts in per_shard for v in shard_verdicts]
        verdicts.sort(key=_verdict_order)
        return verdicts

    def _merge_figures(self, per_shard: list[list[Evaluation]]) -> list[Evaluation]:
        """The shards' figures of one rule, in the order one engine would have written them."""
        figures = [e for shard_figures in per_shard for e in shard_figures]
        return _merge_evaluations(figures) if figures else []

    def _retention_questions(self, decided_at: int, count: int) -> tuple[list[list[str]], Any]:
        """The legacy waybills whose scans expire now, asked of the shards holding copies
        (the others' are dropped by their homes and copies, which say so on their own)."""
        asked: list[list[str]] = [[] for _ in range(count)]
        holders_of = self.shipped_in
        expiring = self.waybills.expiring_scans(decided_at)
        for tracking in expiring:
            for index in _bits(holders_of.get(tracking, 0)):
                asked[index].append(tracking)
        return asked, expiring

    def _conclude(
        self, day: int, decided_at: int, watermark: int | None, closed: list[Any], expiring: Any
    ) -> None:
        """After the shards' retention: the coordinator's plan and exemptions, its directory,
        the orphans — a waybill's expired scans are orphans unless a shard ships under it,
        counted once, from its home (or the stage, for a legacy waybill) — and a shard that
        let go of a waybill is no longer sent its scans.

        A shard can stop needing a waybill only when it was just associated with it or its
        book let go of the waybill's order, scans or updates, so only those waybills (its
        ``let_go_waybills``) are re-checked: the same holders go as in a walk over all.
        """
        self._forget_programs(decided_at)
        super()._conclude(day, decided_at, watermark, closed, expiring)
        if watermark is not None:
            # An id leaves the directory only once its order is out of every book too: its
            # shard evicted it at this instant or before (by the instant's day, which W can
            # run far ahead of) and holds no tombstone of it any more (behind the order
            # horizon, with this W). A shipment or refund of such an id is dropped by its
            # shard, as one engine drops it, so it need not be sent.
            evicted_before = self.state.calendar.start_of(self._first_day_kept(day))
            self.placed.forget_before(min(watermark - self._order_horizon_ms, evicted_before))
            legacy = self.legacy_ids
            if legacy is not None:
                legacy.forget(watermark)
                if not legacy.seen:
                    self.legacy_ids = None
        shipped: set[str] = set()
        for answer in closed:
            shipped.update(answer[1])
        stage = self.waybills
        if self.shipping is not None:
            horizon = decided_at - stage.retention_ms  # the waiting events dropped now
            for order_id in expired_waiting(stage.orphans, horizon):
                for waiting in stage.orphans[order_id]:
                    self._routed(waiting)
        stage.expire_orphans(decided_at, shipped, expiring)
        # Each copy of a waybill's scans expires at the same instant: counted once, unless
        # a shard ships under it (or the stage counted it just now, a legacy waybill).
        expired = {
            t: scans for answer in closed if len(answer) > 5 for t, scans in answer[5].items()
        }
        for tracking in shipped.union(expiring):
            expired.pop(tracking, None)
        stage.orphans_dropped += sum(expired.values())
        if self.shipping is not None:
            self.shipping.expire_orphans(decided_at)  # as the homes did
        holders_of = self.shipped_in
        for index, answer in enumerate(closed):
            bit = 1 << index
            for tracking in answer[2]:
                holders = holders_of.get(tracking, 0)
                if holders & bit:
                    if holders == bit:
                        del holders_of[tracking]
                    else:
                        holders_of[tracking] = holders ^ bit

    # -- outputs --------------------------------------------------------------------------
    @property
    def orphans_dropped(self) -> int:
        """As one engine's: waiting events and never-shipped waybills' scans, plus the shards'."""
        shards = sum(s.orphans_dropped for s in self.shards)
        return self.waybills.orphans_dropped + shards

    @property
    def open_orders(self) -> int:
        """The orders every partition holds now."""
        return sum(s.open_orders for s in self.shards)

    def collect(self, *, evidence: bool, warnings: bool) -> None:
        """As :meth:`Engine.collect`, for the coordinator and every partition."""
        super().collect(evidence=evidence, warnings=warnings)
        for shard in self.shards:
            shard.collect(evidence=evidence, warnings=warnings)

    def snapshot(self) -> bytes:
        """The coordinator's state and each partition's as its own engine snapshot.

        A partition's bytes (:meth:`partition_snapshot`) are a plain :class:`Engine` snapshot,
        restorable alone: what a worker holding only that partition would keep. The broadcast
        facts (plan, exemptions) are in each, as every partition holds its own copy.
        """
        coordinator, stage = self._coordinator_fields()
        document = {
            "partitioned": len(self.shards),
            "coordinator": coordinator,
            "waybills": stage,
            "partitions": [self.partition_snapshot(i) for i in range(len(self.shards))],
        }
        return snapshot_codec.dumps(document, self.policy)

    def _coordinator_fields(self, *transient: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The coordinator's own fields (not its shards, its waybill stage or ``transient``)
        and its waybill stage's: what every coordinator snapshot holds."""
        coordinator = self.__getstate__()
        for name in ("shards", "waybills", *transient):
            coordinator.pop(name, None)
        return coordinator, dict(vars(self.waybills))

    @classmethod
    def _with_coordinator(
        cls, coordinator: dict[str, Any], stage_fields: dict[str, Any], partitions: int, **more: Any
    ) -> Self:
        """An engine of ``partitions`` from :meth:`_coordinator_fields` (and ``more`` fields)."""
        shipped_in = coordinator.get("shipped_in")
        if shipped_in and any(type(v) is not int for v in shipped_in.values()):
            # written before the bit masks: tracking_no -> a set of shard indexes
            coordinator = {**coordinator, "shipped_in": _as_masks(shipped_in)}
        placed = coordinator.get("placed")
        if isinstance(placed, dict):  # written when the directory was a dict kept forever
            coordinator = {**coordinator, "placed": OrderDirectory.of(placed, partitions)}
        ids = coordinator.get("ids")
        if isinstance(ids, IdMemory):  # written when the coordinator held the id memory
            coordinator = {
                **coordinator,
                "ids": HeldElsewhere(),
                "_dedupe_horizon_ms": ids.horizon_ms,
                "recalled": None,
                "legacy_ids": ids if ids.seen else None,
            }
        coordinator = {
            "shipping": None,
            "shipping_refs": {},
            "waybill_homes": False,  # written before the homes: the stage keeps every scan
            **coordinator,
        }
        engine = cls.__new__(cls)
        engine.__setstate__({**coordinator, **more})
        stage = WaybillStage.__new__(WaybillStage)
        vars(stage).update(stage_fields)
        stage.upgrade_snapshot()  # its fields come as a dict, not as an object the reader upgrades
        engine.waybills = stage
        return engine

    def partition_snapshot(self, index: int) -> bytes:
        """Partition ``index``'s state alone, as :meth:`Engine.snapshot` bytes."""
        return self.shards[index].snapshot()

    @classmethod
    def restore(cls, blob: bytes, policy: Policy | None = None) -> PartitionedEngine:
        """Rebuild a partitioned engine from :meth:`snapshot` bytes (refusals as
        :meth:`Engine.restore`; a one-engine snapshot is refused, and the reverse)."""
        return cls.from_document(snapshot_codec.loads(blob, policy), policy)

    @classmethod
    def from_document(cls, document: Any, policy: Policy | None = None) -> PartitionedEngine:
        """The partitioned engine of a decoded :meth:`snapshot`."""
        if not (isinstance(document, dict) and "partitioned" in document):
            raise SnapshotError("the snapshot holds no partitioned engine state")
        parts, coordinator, stage_fields = (
            document.get("partitions"),
            document.get("coordinator"),
            document.get("waybills"),
        )
        if not (
            isinstance(parts, list)
            and parts
            and len(parts) == document["partitioned"]
            and all(isinstance(part, bytes) for part in parts)
            and isinstance(coordinator, dict)
            and isinstance(stage_fields, dict)
        ):
            raise SnapshotError("damaged snapshot (its partitions or coordinator are missing)")
        shards = [Shard.restore(part, policy) for part in parts]
        engine = cls._with_coordinator(coordinator, stage_fields, len(shards), shards=shards)
        engine.waybill_homes = True  # its partitions are here: no log of an older self to re-read
        return engine


#: Each input record class's ``type`` (its tag in the input's JSON).
_TYPE_NAMES: dict[type, str] = {
    cls: str(cls.__struct_config__.tag)
    for cls in (Payment, Shipment, PickupScan, Refund, Exemption, Enrollment, Subsidy)
}


class Shard(Engine):
    """One partition of the state: an engine holding some items' orders, fed by its
    coordinator through the ``take_*`` methods and asked only what they and the
    evaluation steps return (:mod:`streams.rules.steps`) — the messages a worker holding
    this partition alone would exchange with the others. It never reads another partition.

    Its book holds copies of some waybills' scans, so its expired scans are not its orphans
    to count (the coordinator counts each waybill's once, from every partition's expired
    counts), and it lists the waybills it lets go of.
    """

    def __init__(self, policy: Policy, **options: Any) -> None:
        """An empty partition (options as :class:`Engine`)."""
        super().__init__(policy, **options)
        book = self.state.book
        book.count_scan_orphans = False
        book.released_waybills = []
        #: The input records this partition was given to apply, by their ``type``: its share
        #: of the work, for operators (``/stats/``). They do not add up to the coordinator's
        #: ``applied``: a broadcast reaches every partition, a scan each holder of its waybill.
        self.taken: dict[str, int] = {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """As :meth:`Engine.__setstate__`; a snapshot from before the counts starts them at 0."""
        state.setdefault("taken", {})
        super().__setstate__(state)

    def _took(self, event: Event) -> None:
        kind = _TYPE_NAMES[type(event)]
        taken = self.taken
        taken[kind] = taken.get(kind, 0) + 1

    def recall_ids(self, event_ids: list[str]) -> dict[str, int]:
        """The ts each of ``event_ids`` (ids this partition holds) is remembered with, for
        those it remembers: the coordinator decides with its W whether a record is new."""
        return self.ids.recall(event_ids)

    def remembered(self, event_id: str) -> int | None:
        """The ts ``event_id`` is remembered with, if it is: :meth:`recall_ids` of one id,
        for a coordinator in this process (without a list and a dict an event)."""
        return self.ids.seen.get(event_id)

    def recall_batch(
        self, event_ids: list[str], waybills: list[str]
    ) -> tuple[dict[str, int], list[str], dict[str, tuple[int | list[int] | None, ...]]]:
        """Before a batch: :meth:`recall_ids` of its ids this partition holds; the waybills
        it was asked to keep scans of (a coordinator that rebuilds reads them from here),
        and of those the ones it keeps any scan of (:meth:`kept_scans`). Lists and maps of
        plain values: the message tree writes them in one C loop each."""
        book = self.state.book
        scans, updates = book.scans, book.updates
        kept = {t: self.kept_scans(t) for t in waybills if t in scans or t in updates}
        return self.ids.recall(event_ids), waybills, kept

    def kept_scans(self, tracking_no: str) -> tuple[int | list[int] | None, ...]:
        """The pickup scans and updates this partition keeps of a waybill (as its home, or
        as a holder): what another partition that ships under it is given."""
        book = self.state.book
        return _copy(book.scans.get(tracking_no)), _copy(book.updates.get(tracking_no))

    def drop_waybill(self, tracking_no: str) -> None:
        """As the waybill's home, let go of its scans: a partition that ships under it keeps
        them from now on (they are counted there when they expire)."""
        book = self.state.book
        book.scans.pop(tracking_no, None)
        book.updates.pop(tracking_no, None)

    def take_remembered(self, event_id: str, ts: int) -> None:
        """Remember an id the coordinator found new, with its record's ts."""
        self.ids.remember(event_id, ts)

    def take_payment(self, event: Payment, early: list[Shipment | Refund] | None) -> None:
        """Apply a payment of one of this partition's items, with what waited for it."""
        taken = self.taken
        taken["payment"] = taken.get("payment", 0) + 1
        if early:
            for waiting in early:
                self._took(waiting)
            self.state.book.orphans[event.order_id] = early
        self._apply_payment(event)

    def take_order_event(self, event: Shipment | Refund) -> None:
        """Apply a shipment or refund of an order paid here."""
        taken, kind = self.taken, _TYPE_NAMES[type(event)]
        taken[kind] = taken.get(kind, 0) + 1
        self.state.book.add_order_event(event)

    def take_scan(self, event: PickupScan) -> None:
        """Apply a scan of a waybill an order of this partition shipped under."""
        taken = self.taken  # inline: the commonest record a partition is given
        taken["pickup_scan"] = taken.get("pickup_scan", 0) + 1
        self.state.book.add_scan(event)

    def take_waybill(
        self, tracking_no: str, scans: int | list[int] | None, updates: int | list[int] | None
    ) -> None:
        """Keep the scans a waybill had so far: an order here is being shipped under it."""
        book = self.state.book
        book.released_waybills.append(tracking_no)  # type: ignore[union-attr]  # re-checked once
        if scans is not None:
            before = book.scans.get(tracking_no)
            book.scans[tracking_no] = scans
            book.file_scans(
                tracking_no,
                None if before is None else latest(before),
                latest(scans),
            )
        if updates is not None:
            book.updates[tracking_no] = updates

    def take_broadcast(self, event: Exemption | Enrollment) -> None:
        """Apply a fact that spans items to this partition's copy of the plan or exemptions."""
        self._took(event)
        PartitionedEngine._apply_program(self.state, event)

    def take_subsidy(self, event: Subsidy) -> None:
        """Apply a subsidy record of one of this partition's items."""
        self._took(event)
        self.state.subsidies.apply(event)

    def expiring_waybills(self, decided_at: int) -> dict[str, int]:
        """The scans its retention drops are not its orphans to count: which waybills they
        were, with how many (the coordinator counts each waybill's once, unless a partition
        ships under it; :meth:`Engine.close_instant` says which this one ships under)."""
        book = self.state.book
        return {t: scan_count(book.scans[t]) for t in book.expiring_scans(decided_at)}

    def let_go_waybills(self) -> list[str]:
        """The waybills this partition no longer needs the scans of (no order shipped under
        it, no scans or updates kept), among those it took on or let go of since last asked:
        only then can that change."""
        book = self.state.book
        released, book.released_waybills = book.released_waybills or [], []
        shipped, scans, updates = book.by_tracking, book.scans, book.updates
        return [
            tracking
            for tracking in released
            if not (tracking in shipped or tracking in scans or tracking in updates)
        ]


class WaybillStage(OrderBook):
    """A book without orders: the shipments and refunds of orders never paid yet
    (``orphans``), and the scans of legacy waybills (every scan, in a snapshot of before the
    homes). It counts what expires unjoined, as one engine's book would: a legacy waybill's
    scans are orphans when no partition ships under it (the partitions that hold copies say
    which do, :meth:`Shard.ships_under`)."""

    def __init__(self, policy: Policy) -> None:
        """The stage of a partitioned engine under ``policy``."""
        super().__init__(
            policy.orphan_retention_ms, policy.quality_refund.refund_within_ms, policy.campaigns
        )


def _verdict_order(verdict: Verdict) -> tuple[Any, ...]:
    """SPEC §4.5 within one rule at one instant: by subject (campaigns: order, kind, period)."""
    if verdict.rule == campaign_fulfilment.RULE:
        return (verdict.details["order_id"], verdict.kind, verdict.period)
    return (verdict.item_id or verdict.shop_id,)


_RULE_RANK = {steps.rule: rank for rank, steps in enumerate(PUBLISHED_ORDER)}


def publication_order(verdict: Verdict) -> tuple[Any, ...]:
    """Where a verdict comes in the whole output (SPEC §4.5): by instant, then rule, then
    subject, kind and period. Verdicts read back from their topics (one per kind, several
    partitions each) are put in the order the engine published them by sorting on this."""
    return (
        verdict.decided_at,
        _RULE_RANK[verdict.rule],
        *_verdict_order(verdict),
        verdict.kind,
        verdict.period,
    )


def _merge_evaluations(evaluations: list[Evaluation]) -> list[Evaluation]:
    """One rule's figures from every shard: per item they come from one shard, so they are
    put in subject order; a campaign's per-shop figures are summed over the shards."""
    if not isinstance(evaluations[0], CampaignEvaluation):
        return sorted(evaluations, key=lambda e: e.subject)
    combined: dict[tuple[str, str], list[Any]] = {}
    for evaluation in evaluations:
        assert isinstance(evaluation, CampaignEvaluation)  # noqa: S101 - one rule per call
        figures = combined.setdefault((evaluation.subject, evaluation.period), [0, 0, {}])
        figures[0] += evaluation.numerator
        figures[1] += evaluation.denominator
        for reason, count in evaluation.breached.items():
            figures[2][reason] = figures[2].get(reason, 0) + count
    first = evaluations[0]
    return [
        CampaignEvaluation(
            first.rule,
            shop_id,
            period,
            first.decided_at,
            kept,
            judged,
            campaign_fulfilment.KIND if kept < judged else None,
            breached=dict(sorted(breached.items())),
        )
        for (shop_id, period), (kept, judged, breached) in sorted(combined.items())
    ]


def restore(blob: bytes, policy: Policy | None = None) -> Engine:
    """The engine a snapshot holds, one engine, a partitioned one or the coordinator of remote
    partitions, whichever wrote it
    (refusals as :meth:`Engine.restore`)."""
    document = snapshot_codec.loads(blob, policy)
    if isinstance(document, dict) and "partitioned" in document:
        return PartitionedEngine.from_document(document, policy)
    if isinstance(document, dict) and "remote" in document:
        from sellerwatch.streams.remote import RemoteCoordinator  # noqa: PLC0415 - it builds on this module

        return RemoteCoordinator.from_document(document, policy)
    return Engine.from_snapshot_state(document)

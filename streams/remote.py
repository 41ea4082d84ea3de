"""The partitioned engine with its partitions in other processes, as plain data.

A :class:`RemoteCoordinator` is a :class:`streams.partitioned.PartitionedEngine` whose shards
are :class:`RemoteShard` stubs: what it sends a partition — the events routed to it, and at an
evaluation instant the three asks of :mod:`streams.instant` — goes into a per-partition
*outbox* that a driver carries to the process holding the partition (a Kafka topic with one
partition per state partition, :mod:`agents.partitions`). At an instant the coordinator
*parks* after each ask until every partition's answer is back (:meth:`RemoteCoordinator.answer`),
and takes no record meanwhile: one engine would have applied the events before the instant by
the time it classifies the next record, and a second payment is judged against the payments
applied (SPEC §7), so a record classified while events wait would be judged otherwise (found
by the differential streams: an order id paid again past the horizon, while its first payment
still waited, was taken for a second payment). Markers (idle, end of input) may come. A
partition is a plain :class:`streams.partitioned.Shard` to which :func:`apply_messages` applies
each batch, returning the answers to its asks.

Nothing here waits or does I/O, so the dataflow of separate workers runs in one process too
(``tests/streams/test_remote.py``, ``tests/loopback.py``), and gives one engine's outputs.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from typing import Any

import msgspec

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
from sellerwatch.schemas.validation import Rejected, decode_event
from sellerwatch.streams import snapshot as snapshot_codec
from sellerwatch.streams.accounting import Outcome
from sellerwatch.streams.instant import Ask
from sellerwatch.streams.orders import OrderBook, latest
from sellerwatch.streams.partitioned import PartitionedEngine, Shard, partition_of
from sellerwatch.streams.policy import Policy
from sellerwatch.streams.snapshot import SnapshotError

#: What a coordinator sends a partition besides asks, each a :class:`Shard` method; the order
#: numbers them on the wire.
TAKES = (
    "take_payment",
    "take_order_event",
    "take_scan",
    "take_waybill",
    "take_subsidy",
    "take_broadcast",
    "move_windows",
)
#: The id memory's message, numbered after the asks (added in format 2).
REMEMBER = "take_remembered"
#: A waybill's home lets go of its scans, now kept where an order ships under it (format 3).
DROP_WAYBILL = "drop_waybill"
#: The ask before a batch: the ts each of its ids is remembered with, by the partition of the
#: id, and the scans of the waybills it may ship under, by the partition keeping each (format 3).
RECALL = "recall_batch"
#: The ask before a batch in format 2 (its ids only), still answered for an older coordinator.
RECALL_IDS = "recall_ids"
#: What a partition answers: the steps of an instant (:mod:`streams.instant`), and a recall.
STEPS = frozenset({"open_instant", "decide_instant", "close_instant", RECALL, RECALL_IDS})
ASK = "ask"

#: A message: ``(take, args)``, or ``("ask", seq, step, args)``.
Message = tuple[Any, ...]


class RemoteShard:
    """A partition held elsewhere: every message goes into its coordinator's outbox."""

    def __init__(self, coordinator: RemoteCoordinator, index: int) -> None:
        self.coordinator = coordinator
        self.index = index

    def _post(self, take: str, *args: Any) -> None:
        self.coordinator.outbox[self.index].append((take, args))

    def recall_ids(self, event_ids: list[str]) -> dict[str, int]:
        """Asked elsewhere, for a whole batch (:meth:`RemoteCoordinator.recall`)."""
        raise RuntimeError(
            "a coordinator of remote partitions recalls a batch's ids (recall) before it "
            "takes any record of the batch"
        )

    def remembered(self, event_id: str) -> int | None:
        """Asked elsewhere, for a whole batch, as :meth:`recall_ids`."""
        return self.recall_ids([event_id]).get(event_id)

    def kept_scans(self, tracking_no: str) -> tuple[Any, ...]:
        """Asked elsewhere, for a whole batch (:meth:`RemoteCoordinator.recall`)."""
        raise RuntimeError(
            "a coordinator of remote partitions fetches a batch's waybills (recall) before it "
            "takes any record of the batch"
        )

    def take_remembered(self, event_id: str, ts: int) -> None:
        self._post(REMEMBER, event_id, ts)

    def take_payment(self, event: Payment, early: list[Shipment | Refund] | None) -> None:
        self._post("take_payment", event, early)

    def take_order_event(self, event: Shipment | Refund) -> None:
        self._post("take_order_event", event)

    def take_scan(self, event: PickupScan) -> None:
        self._post("take_scan", event)

    def take_waybill(self, tracking_no: str, scans: Any, updates: Any) -> None:
        self._post("take_waybill", tracking_no, scans, updates)

    def drop_waybill(self, tracking_no: str) -> None:
        self._post(DROP_WAYBILL, tracking_no)

    def take_subsidy(self, event: Subsidy) -> None:
        self._post("take_subsidy", event)

    def take_broadcast(self, event: Exemption | Enrollment) -> None:
        self._post("take_broadcast", event)

    def move_windows(self, day: int) -> None:
        self._post("move_windows", day)

    def collect(self, *, evidence: bool, warnings: bool) -> None:
        """A partition's worker has its own settings: nothing to send."""

    @property
    def open_orders(self) -> int:
        """As the partition said at its last instant."""
        return int(self.coordinator.figures[self.index][0])

    @property
    def orphans_dropped(self) -> int:
        """As the partition said at its last instant."""
        return int(self.coordinator.figures[self.index][1])


class RemoteCoordinator(PartitionedEngine):
    """The coordinator of partitions held elsewhere: it routes, asks and waits, never blocks.

    After each batch of records a driver takes the :attr:`outbox` (:meth:`take_messages`);
    while :attr:`asking` is set it collects every partition's answer to the ask numbered
    :attr:`asks` and hands them over with :meth:`answer`.
    """

    asking: Ask | None = None

    def __init__(self, policy: Policy | None = None, *, partitions: int = 2, **options: Any):
        """A fresh coordinator of ``partitions`` remote partitions (options as the engine's)."""
        super().__init__(policy, partitions=partitions, **options)
        self._go_remote(partitions)
        #: Per partition, ``(open_orders, orphans_dropped)`` as of its last instant.
        self.figures: list[tuple[int, int]] = [(0, 0)] * partitions
        #: How many asks were sent: the number of the one being answered.
        self.asks = 0

    def _go_remote(self, partitions: int) -> None:
        self.shards = [RemoteShard(self, i) for i in range(partitions)]  # type: ignore[misc]
        #: The records of the batch being taken, decoded once (:meth:`recall_lines`).
        self._decoded: dict[bytes, Event | Rejected] = {}
        self.outbox: list[list[Message]] = [[] for _ in range(partitions)]
        self._conversation: Generator[Ask, list[Any], None] | None = None
        self.asking = None

    # -- the driver's side --------------------------------------------------------------------
    def take_messages(self) -> list[list[Message]]:
        """Per partition, the messages since the last call, in the order to apply them."""
        out = self.outbox
        self.outbox = [[] for _ in out]
        return out

    def answer(self, answers: list[Any]) -> None:
        """Every partition's answer to the ask in flight (index = partition): the instant goes
        on to its next ask, or ends and the engine applies what waited for it; a recall ends
        and the batch can be taken."""
        conversation = self._conversation
        if conversation is None or self.asking is None or len(answers) != len(self.shards):
            raise ValueError("answers to no ask, or not one per partition")
        step = self.asking.step
        try:
            ask = conversation.send(answers)
        except StopIteration:
            self._conversation = None
            self.asking = None
            if step != RECALL:
                self._advance()
            return
        self._ask(ask)

    def recall(self, event_ids: list[str], waybills: Iterable[str] = ()) -> None:
        """Before a batch is taken, ask each partition the ts it remembers the batch's ids
        with (each id of the partition ``crc32(event_id) % N`` that holds it), and park until
        answered: the records are then classified here, in order, against this engine's W,
        as one engine would (SPEC §7), with one round trip a batch. Ids the answers do not
        name are not remembered; a rebuild re-reads the answers, so it may pass none.

        In the same ask, the partition that keeps each of the batch's shipments' ``waybills``
        (its first holder, or its home, :meth:`keeper_of`) is asked for its scans, unless
        they are kept here already (:attr:`shipping`): a shipment may be routed batches
        later (after ``W`` passes it, or its payment comes), and the partition it goes to is
        then given the scans kept at that record, as one engine's book would hold them.
        """
        if self.asking is not None:
            raise RuntimeError(f"ask {self.asks} ({self.asking.step}) waits: no recall now")
        per_partition: list[list[str]] = [[] for _ in self.shards]
        count = len(self.shards)
        for event_id in dict.fromkeys(event_ids):
            per_partition[partition_of(event_id, count)].append(event_id)
        batch = dict.fromkeys(waybills)
        refs, shipping = self.shipping_refs, self.shipping
        if shipping is None:  # the first batch (a fresh coordinator, or one from before homes)
            self.shipping = shipping = self._shipping_book()
            refs.update(self._shipments_held())
            wanted = [*refs, *(t for t in batch if t not in refs)]
        else:  # let go of what no held shipment names (whatever the batch: a rebuild
            # re-reads the answers to a recall with no arguments, and must keep the same)
            for tracking_no in [t for t, held in refs.items() if not held]:
                del refs[tracking_no]
                shipping.scans.pop(tracking_no, None)
                shipping.updates.pop(tracking_no, None)
            wanted = [t for t in batch if t not in refs]
        per_keeper: list[list[str]] = [[] for _ in self.shards]
        holders = self.shipped_in
        for tracking_no in wanted:
            refs.setdefault(tracking_no, 0)
            keeper = self.keeper_of(tracking_no, holders.get(tracking_no, 0))
            per_keeper[keeper].append(tracking_no)
        self._conversation = self._recalling(per_partition, per_keeper)
        self._ask(next(self._conversation))

    def recall_lines(self, lines: Iterable[bytes]) -> None:
        """:meth:`recall` for a batch of raw records, read here once: the ids and waybills of
        those that pass validation are asked, and :meth:`accept_raw` takes each record's
        decoding from here instead of decoding it again."""
        decoded: dict[bytes, Event | Rejected] = {}
        limit = self.policy.max_record_bytes
        event_ids: list[str] = []
        waybills: list[str] = []
        for raw in lines:
            event = decoded.get(raw)
            if event is None:
                event = decoded[raw] = decode_event(raw, limit)
            if type(event) is not Rejected:
                event_ids.append(event.event_id)  # type: ignore[union-attr]
                if type(event) is Shipment:
                    waybills.append(event.tracking_no)
        self.recall(event_ids, waybills)
        self._decoded = decoded

    def accept_raw(self, raw: bytes, partition: object = 0) -> tuple[Outcome, Rejected | None]:
        """As the engine's, with the decoding :meth:`recall_lines` kept, if it read ``raw``."""
        event = self._decoded.get(raw)
        if event is None:
            event = decode_event(raw, self.policy.max_record_bytes)
        return self.accept_decoded(event, partition)

    def _recalling(
        self, per_partition: list[list[str]], per_keeper: list[list[str]]
    ) -> Generator[Ask, list[Any], None]:
        answers = yield Ask(RECALL, list(zip(per_partition, per_keeper, strict=True)))
        recalled: dict[str, int] = {}
        shipping, refs = self.shipping, self.shipping_refs
        assert shipping is not None  # noqa: S101 - made by recall
        for answer in answers:
            if type(answer) is dict:  # format 2: ids only (a log written before the homes)
                recalled.update(answer)
                continue
            ids, asked, kept = answer
            recalled.update(ids)
            self.waybill_homes = True  # the partitions keep the waybills' scans from now on
            for tracking_no in asked:
                refs.setdefault(tracking_no, 0)
            for tracking_no, (scans, updates) in kept.items():
                if scans is not None:
                    shipping.scans[tracking_no] = scans
                    shipping.file_scans(tracking_no, None, latest(scans))
                if updates is not None:
                    shipping.updates[tracking_no] = updates
        self.recalled = recalled

    def _shipping_book(self) -> OrderBook:
        """An empty :attr:`shipping`: a book of waybills only, which counts no orphans."""
        policy = self.policy
        book = OrderBook(
            policy.orphan_retention_ms, policy.quality_refund.refund_within_ms, policy.campaigns
        )
        book.count_scan_orphans = False
        return book

    def _shipments_held(self) -> dict[str, int]:
        """Per waybill, the shipments taken and not routed yet (waiting for ``W``, or for
        their payment): what :attr:`shipping_refs` counts."""
        held: dict[str, int] = {}
        waiting = [event for _, _, event in self._pending]
        waiting += [event for events in self.waybills.orphans.values() for event in events]
        for event in waiting:
            if type(event) is Shipment:
                held[event.tracking_no] = held.get(event.tracking_no, 0) + 1
        return held

    def accept(self, event: Event, partition: object = 0) -> Outcome:
        """As the engine's, between instants only: a driver holds records while one waits."""
        if self.asking is not None:
            raise RuntimeError(
                f"ask {self.asks} ({self.asking.step}) waits for the partitions: "
                "a coordinator takes no record until it is answered"
            )
        return super().accept(event, partition)

    def discard_outputs(self) -> None:
        """As the engine's; the messages too (a rebuild re-derives what was already sent)."""
        super().discard_outputs()
        self.take_messages()

    # -- the engine's side --------------------------------------------------------------------
    def _evaluate(self) -> None:
        """Start the instant and park at its first ask."""
        self._conversation = self._instant()
        self._ask(next(self._conversation))

    def _ask(self, ask: Ask) -> None:
        self.asking = ask
        self.asks += 1
        for messages, args in zip(self.outbox, ask.args, strict=True):
            messages.append((ASK, self.asks, ask.step, args))

    def _conclude(
        self, day: int, decided_at: int, watermark: int | None, closed: list[Any], expiring: Any
    ) -> None:
        self.figures = [(answer[3], answer[4]) for answer in closed]
        super()._conclude(day, decided_at, watermark, closed, expiring)

    # -- snapshots: the coordinator's own state -----------------------------------------------
    def snapshot(self) -> bytes:
        """The coordinator's state alone (each partition snapshots its own, elsewhere);
        refused in the middle of an instant, which a driver never snapshots."""
        if self.asking is not None or any(self.outbox):
            raise SnapshotError("a coordinator is snapshotted between instants, with no messages")
        coordinator, stage = self._coordinator_fields(
            "outbox", "_conversation", "asking", "_decoded"
        )
        document = {"remote": len(self.shards), "coordinator": coordinator, "waybills": stage}
        return snapshot_codec.dumps(document, self.policy)

    @classmethod
    def from_document(cls, document: Any, policy: Policy | None = None) -> RemoteCoordinator:
        """The coordinator of a decoded :meth:`snapshot`."""
        if not (isinstance(document, dict) and "remote" in document):
            raise SnapshotError("the snapshot holds no coordinator of remote partitions")
        partitions, coordinator, stage_fields = (
            document.get("remote"),
            document.get("coordinator"),
            document.get("waybills"),
        )
        if not (
            isinstance(partitions, int)
            and partitions >= 1
            and isinstance(coordinator, dict)
            and isinstance(stage_fields, dict)
        ):
            raise SnapshotError("damaged snapshot (its coordinator is missing)")
        engine = cls._with_coordinator(coordinator, stage_fields, partitions)
        engine._go_remote(partitions)
        return engine


# -- on the wire ------------------------------------------------------------------------------
# The events routed to a partition are most of what crosses, one message per event: they go as
# the schemas' own msgspec event records, a batch encoded and decoded in one C call each
# (typed, validated on reading).
# An ask's arguments and an answer are the core's own objects (shop weeks, verdicts, evidence)
# once per instant: they go in the snapshots' no-pickle tree (streams.snapshot.dumps_message).


#: The partition log's format; a batch of another is refused (``sellerwatch reset``). Format 2
#: added the id memory's messages (``remembered``); format 3 the waybills' scans kept in the
#: partitions (a recall also fetches waybills, ``recall_batch``; ``drop_waybill``). Batches of
#: formats 1 and 2 are still read: a partition answers their asks as before (a close answer
#: has one more field, which an older coordinator does not read).
WIRE_VERSION = 3
_READS = frozenset({1, 2, WIRE_VERSION})


class _Batch(msgspec.Struct, array_like=True, frozen=True):
    """A partition's messages of one transaction: per kind, its arguments in order, and the
    kinds' order (one byte a message). Encoded and decoded in one call each, in C."""

    version: int
    kinds: bytes
    payments: list[tuple[Payment, list[Shipment | Refund] | None]]
    order_events: list[Shipment | Refund]
    scans: list[PickupScan]
    waybills: list[tuple[str, int | list[int] | None, int | list[int] | None]]
    subsidies: list[Subsidy]
    broadcasts: list[Exemption | Enrollment]
    windows: list[int]
    #: ``(number, step, arguments in the snapshots' tree)``
    asks: list[tuple[int, str, bytes]]
    #: ``(event_id, ts)`` of each id found new (format 2).
    remembered: list[tuple[str, int]] = []
    #: The waybills whose scans the partition, their home, lets go of (format 3).
    dropped: list[str] = []


#: The message of each kind, by its code (kept: a new kind gets the next code); the messages
#: whose arguments are more than one value.
_KINDS = (*TAKES, ASK, REMEMBER, DROP_WAYBILL)
_CODE = {name: code for code, name in enumerate(_KINDS)}
_ASK_CODE = _CODE[ASK]
_WHOLE_ARGS = {_CODE["take_payment"], _CODE["take_waybill"], _CODE[REMEMBER]}
_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(_Batch)


def encode_messages(messages: list[Message]) -> bytes:
    """A partition's messages as one blob."""
    kinds = bytearray()
    lists: list[list[Any]] = [[] for _ in _KINDS]
    code_of, whole = _CODE, _WHOLE_ARGS
    for message in messages:
        code = code_of[message[0]]
        kinds.append(code)
        if code == _ASK_CODE:
            _, number, step, args = message
            lists[code].append((number, step, snapshot_codec.dumps_message(args)))
        else:
            lists[code].append(message[1] if code in whole else message[1][0])
    return _ENCODER.encode(_Batch(WIRE_VERSION, bytes(kinds), *lists))


def apply_messages(shard: Shard, blob: bytes) -> list[tuple[int, Any]]:
    """Apply a blob of :func:`encode_messages` to ``shard`` in order; the answers to its asks,
    ``(ask number, answer)``. Only the dataflow's methods can be reached: the kinds of
    :data:`TAKES` and the steps of :data:`STEPS`; a malformed blob raises
    :class:`streams.snapshot.SnapshotError` (nothing in it is ever run)."""
    try:
        batch = _DECODER.decode(blob)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise SnapshotError(f"damaged messages ({exc})") from None
    if batch.version not in _READS:
        raise SnapshotError(f"messages in format {batch.version}, not {WIRE_VERSION}")
    parts: list[Iterator[Any]] = [
        iter(batch.payments),
        iter(batch.order_events),
        iter(batch.scans),
        iter(batch.waybills),
        iter(batch.subsidies),
        iter(batch.broadcasts),
        iter(batch.windows),
        iter(batch.asks),
        iter(batch.remembered),
        iter(batch.dropped),
    ]
    methods = [
        None if code == _ASK_CODE else getattr(shard, kind) for code, kind in enumerate(_KINDS)
    ]
    answers: list[tuple[int, Any]] = []
    whole, ask_code = _WHOLE_ARGS, _ASK_CODE
    try:
        for code in batch.kinds:
            item = next(parts[code])
            if code == ask_code:
                number, step, args = item
                if step not in STEPS:
                    raise SnapshotError(
                        f"damaged messages (not a step a partition answers: {step!r})"
                    )
                answers.append((number, getattr(shard, step)(*snapshot_codec.loads_message(args))))
            elif code in whole:
                methods[code](*item)  # type: ignore[misc]
            else:
                methods[code](item)  # type: ignore[misc]
    except (StopIteration, IndexError):
        raise SnapshotError("damaged messages (their kinds and arguments disagree)") from None
    return answers


def encode_answer(index: int, number: int, answer: Any) -> bytes:
    """Partition ``index``'s answer to ask ``number``."""
    return snapshot_codec.dumps_message((index, number, answer))


def decode_answer(blob: bytes) -> tuple[int, int, Any]:
    """``(partition, ask number, answer)`` as :func:`encode_answer` wrote them."""
    index, number, answer = snapshot_codec.loads_message(blob)
    return index, number, answer

"""Small event builders with defaults that take local wall-clock strings (Asia/Shanghai)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import orjson

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
from sellerwatch.schemas.validation import Rejected
from sellerwatch.schemas.verdict import Evaluation, Verdict
from sellerwatch.streams.calendar import Calendar
from sellerwatch.streams.engine import Engine
from sellerwatch.streams.partitioned import PartitionedEngine
from sellerwatch.streams.policy import Policy
from tests.loopback import remote_outputs

CAL = Calendar("Asia/Shanghai")
_ids = itertools.count(1)


def at(text: str) -> int:
    """Epoch ms of a local wall-clock string like ``"2021-07-05 16:59:59.999"``."""
    return CAL.parse_local(text)


def _eid(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def payment(
    order_id: str,
    at_: str,
    *,
    shop: str = "S1",
    item: str = "I1",
    category: str = "C1",
    channel: str = "taote",
    region: str | None = None,
    amount_cents: int = 1000,
) -> Payment:
    """A payment at local time ``at_``."""
    return Payment(
        event_id=_eid("pay"),
        ts=at(at_),
        order_id=order_id,
        shop_id=shop,
        item_id=item,
        category_id=category,
        channel=channel,  # type: ignore[arg-type]
        amount_cents=amount_cents,
        region=region,
    )


def shipment(
    order_id: str,
    at_: str,
    *,
    tracking: str | None = None,
    official: bool = True,
    needs_logistics: bool | None = None,
    carrier: str = "ZTO",
) -> Shipment:
    """A shipment; the waybill defaults to ``T-<order_id>``."""
    return Shipment(
        event_id=_eid("ship"),
        ts=at(at_),
        order_id=order_id,
        carrier=carrier,
        tracking_no=tracking or f"T-{order_id}",
        official_logistics=official,
        needs_logistics=needs_logistics,
    )


def pickup(tracking: str, at_: str, *, scan: str = "pickup") -> PickupScan:
    """A carrier scan of a waybill."""
    return PickupScan(
        event_id=_eid("scan"),
        ts=at(at_),
        tracking_no=tracking,
        carrier="ZTO",
        scan=scan,  # type: ignore[arg-type]
    )


def refund(order_id: str, at_: str, *, reason: str = "quality") -> Refund:
    """A completed refund."""
    return Refund(
        event_id=_eid("ref"),
        ts=at(at_),
        order_id=order_id,
        refund_id=_eid("r"),
        reason=reason,  # type: ignore[arg-type]
    )


def enroll(shop: str, at_: str, action: str = "join") -> Enrollment:
    """A same-day-ship plan action."""
    return Enrollment(event_id=_eid("enr"), ts=at(at_), shop_id=shop, action=action)  # type: ignore[arg-type]


def subsidy(item: str, at_: str, action: str = "join", *, shop: str = "S1") -> Subsidy:
    """A subsidy activity action."""
    return Subsidy(event_id=_eid("sub"), ts=at(at_), shop_id=shop, item_id=item, action=action)  # type: ignore[arg-type]


def exemption(
    at_: str,
    start: str,
    end: str,
    *,
    shop: str = "S1",
    scope: str = "shop",
    item: str | None = None,
    region: str | None = None,
) -> Exemption:
    """A force-majeure report filed at ``at_``, valid ``[start, end)``."""
    return Exemption(
        event_id=_eid("ex"),
        ts=at(at_),
        exemption_id=_eid("x"),
        scope=scope,  # type: ignore[arg-type]
        shop_id=shop,
        start_ts=at(start),
        end_ts=at(end),
        item_id=item,
        region=region,
    )


#: Every scenario also runs partitioned over this many shards, and must not see a difference;
#: for some, also with the shards behind a loopback that answers late (``tests/loopback.py``).
PARTITIONS = range(1, 9)
REMOTE_PARTITIONS = (1, 3)


def run(events: list[Event], policy: Policy | None = None, **kw: Any) -> list[Verdict]:
    """Feed events in the given order, finish, return all verdicts.

    The same events through a :class:`PartitionedEngine` of every size in ``PARTITIONS`` must
    give the same verdicts, evaluations and books, so every scenario tests partitioning too.
    """
    verdicts = outputs(Engine(policy, **kw), events)[0]
    figures = {**kw, "collect_evaluations": True}
    expected = outputs(Engine(policy, **figures), events)
    assert expected[0] == verdicts, "collecting the evaluations changed a verdict"
    for partitions in PARTITIONS:
        assert_partitions_agree(expected, events, policy, partitions, **figures)
    return verdicts


Outputs = tuple[list[Verdict], list[Evaluation], dict[str, Any], int]
OUTPUTS = ("verdicts", "evaluations", "books", "orphans dropped")


def outputs(engine: Engine, records: Sequence[Event | Rejected]) -> Outputs:
    """Feed records (events or rejections) in the given order and finish: verdicts,
    evaluations, accounting, orphans."""
    for record in records:
        if isinstance(record, Rejected):
            engine.reject(record)
        else:
            engine.accept(record)
    engine.finish()
    return (
        engine.take_verdicts(),
        engine.take_evaluations(),
        engine.accounting.as_dict(),
        engine.orphans_dropped,
    )


def assert_partitions_agree(
    expected: Outputs,
    records: Sequence[Event | Rejected],
    policy: Policy | None,
    partitions: int,
    **kw: Any,
) -> None:
    """The records through ``partitions`` shards give one engine's ``expected`` outputs."""
    got = outputs(PartitionedEngine(policy, partitions=partitions, **kw), records)
    for what, mine, theirs in zip(OUTPUTS, got, expected, strict=True):
        assert mine == theirs, f"{partitions} partitions: {what} differ from one engine's"
    if partitions in REMOTE_PARTITIONS:  # and as separate workers would run them
        coordinator, _ = remote_outputs(records, policy, partitions, seed=partitions, **kw)
        got = (
            coordinator.take_verdicts(),
            coordinator.take_evaluations(),
            coordinator.accounting.as_dict(),
            coordinator.orphans_dropped,
        )
        for what, mine, theirs in zip(OUTPUTS, got, expected, strict=True):
            assert mine == theirs, f"{partitions} remote partitions: {what} differ"


def run_sorted(events: list[Event], policy: Policy | None = None) -> list[Verdict]:
    """Feed events sorted by ts (stable), finish, return all verdicts."""
    return run(sorted(events, key=lambda e: e.ts), policy)


def clock_tick(at_: str) -> Enrollment:
    """A harmless event that only moves event time forward (an ignored plan action)."""
    return Enrollment(event_id=_eid("tick"), ts=at(at_), shop_id="__clock__", action="cancel")


def kinds(verdicts: list[Verdict]) -> list[tuple[str, str, str]]:
    """``(kind, subject, period)`` of each verdict, for compact assertions."""
    return [(v.kind, v.subject, v.period) for v in verdicts]


def as_json(event: Event) -> bytes:
    """The JSON line of an event, as a producer would write it."""
    import msgspec

    return msgspec.json.encode(event)


def loads(raw: bytes) -> Any:
    """Parse JSON."""
    return orjson.loads(raw)

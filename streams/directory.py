"""The coordinator's order directory: which partition holds an order id, bounded by event time.

A partitioned engine routes a shipment or refund by its ``order_id`` to the partition of the
id's latest payment, and judges a second payment against that payment's ``paid_ts`` (SPEC §7).
Both need the ``paid_ts`` only while it lies within the order horizon (``W - order_horizon``)
and the order it made is held: an older payment is never a second payment's first, and once
the order is evicted (by the instant's day, which W can run ahead of: the partitioned engine
passes the earlier of the two bounds) an event that joins it changes nothing anywhere (its
partition's book would only find the id among those ever paid, and drop it). So an id whose
latest payment falls behind both leaves the directory for a compact set of ids placed before
(:class:`streams.id_set.CompactIdSet`, a few bytes an id): it is still known as paid, so that
a shipment for it does not wait as an orphan for a reused id's next payment, but it costs no
dict entry. Without this the directory grew by ~100 bytes with every order ever paid.

Worked example, order horizon 35 days, 2 partitions (days for ts):

====  ==================  ===============================  ===================================
W     event               directory                        decision
====  ==================  ===============================  ===================================
—     pay o1 @1 → p1      o1: (1, p1)                      new order, on p1
30    ship o1 @30         o1: (1, p1)                      to p1 (its order)
40    retention           — (o1 placed before)             1 < 40 − 35: o1 leaves the dict
41    ship o1 @41         —                                joins the evicted order: dropped
42    pay o1 @42 → p0     o1: (42, p0)                     not a second payment: a new order
====  ==================  ===============================  ===================================
"""

from __future__ import annotations

from collections import deque

from sellerwatch.streams.id_set import CompactIdSet
from sellerwatch.streams.ids import DAY_MS


class OrderDirectory:
    """order_id → the partition and ``paid_ts`` of its latest payment, within the horizon."""

    __slots__ = ("partitions", "placed", "days", "before")

    def __init__(self, partitions: int) -> None:
        """An empty directory of ``partitions`` partitions."""
        self.partitions = partitions
        #: order_id -> ``paid_ts · N + partition`` of its latest applied payment.
        self.placed: dict[str, int] = {}
        #: ``(UTC day, ids placed with a paid_ts of that day or before)``, oldest first.
        self.days: deque[tuple[int, list[str]]] = deque()
        #: Ids whose latest payment fell behind the order horizon.
        self.before = CompactIdSet()

    @classmethod
    def of(cls, placed: dict[str, int], partitions: int) -> OrderDirectory:
        """The directory of a snapshot written when it was a bare dict (kept forever): its
        entries are filed as of the newest day, and the next retention moves the old ones."""
        directory = cls(partitions)
        directory.placed = placed
        if placed:
            newest = max(placed.values()) // partitions // DAY_MS
            directory.days.append((newest, list(placed)))
        return directory

    def place(self, order_id: str, paid_ts: int, partition: int) -> None:
        """``order_id`` was paid at ``paid_ts`` on ``partition`` (its latest payment now)."""
        self.placed[order_id] = paid_ts * self.partitions + partition
        day = paid_ts // DAY_MS
        days = self.days
        if days and days[-1][0] >= day:
            days[-1][1].append(order_id)
        else:
            days.append((day, [order_id]))

    def partition(self, order_id: str) -> int | None:
        """The partition of the id's latest payment within the horizon, if any."""
        value = self.placed.get(order_id)
        return None if value is None else value % self.partitions

    def paid_ts(self, order_id: str) -> int | None:
        """``paid_ts`` of the id's latest payment within the horizon, if any."""
        value = self.placed.get(order_id)
        return None if value is None else value // self.partitions

    def ever_placed(self, order_id: str) -> bool:
        """Whether the id was ever paid (within the horizon or before it)."""
        return order_id in self.placed or order_id in self.before

    def forget_before(self, horizon_ts: int) -> None:
        """Move the ids whose latest payment is before ``horizon_ts`` (``W - order_horizon``,
        or earlier while the partitions still hold such orders) out of the dict: whole UTC
        days that end before it, an id paid again later kept."""
        days, placed, before, n = self.days, self.placed, self.before, self.partitions
        while days and (days[0][0] + 1) * DAY_MS <= horizon_ts:
            for order_id in days.popleft()[1]:
                value = placed.get(order_id)
                if value is not None and value // n < horizon_ts:
                    del placed[order_id]
                    before.add(order_id)

    def __len__(self) -> int:
        """Ids within the horizon."""
        return len(self.placed)

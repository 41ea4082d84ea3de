"""A set of ids that only grows, held in a few bytes per id: sorted runs of their UTF-8 bytes.

The order book remembers every order id ever paid (``OrderBook.ever_paid``, SPEC §7: a
shipment or refund joins its order's payment however old), so this set grows with history,
one id per order. As a Python ``set`` of ``str`` it cost ~100 bytes an id; here an id costs its
bytes plus a 4-byte offset. It is asked only about shipments and refunds whose order is not in
the book, which are rare, so a lookup may cost a few binary searches.

New ids go into a small ``set`` (:attr:`CompactIdSet.recent`); when it holds
:data:`RECENT_MAX` ids they become a *run*: sorted, deduplicated, joined into one ``bytes``
with an array of start offsets. Runs are merged as in a log-structured merge tree: while the
run before the newest holds at most twice as many ids, the two become one, so there are
O(log n) runs and each id is rewritten O(log n) times.

Worked example, ``RECENT_MAX`` = 2:

=========  ================  ==============================================
added      recent            runs (ids in each)
=========  ================  ==============================================
a          {a}               —
b          {} after the run  [a b]
c          {c}               [a b]
d          {}                [a b] + [c d] → merged: [a b c d]
e          {e}               [a b c d]
=========  ================  ==============================================
"""

from __future__ import annotations

import heapq
import sys
from array import array
from collections.abc import Iterable, Iterator

#: Ids held as a plain ``set`` before they are packed into a run.
RECENT_MAX = 100_000
#: A run is not merged past this many bytes: its offsets are 32-bit.
RUN_BYTES_MAX = 1 << 31


def _offsets(packed: bytes) -> array[int]:
    """The start offsets a run keeps as little-endian bytes (snapshots stay portable)."""
    starts = array("I")
    starts.frombytes(packed)
    if sys.byteorder != "little":
        starts.byteswap()
    return starts


def _packed(starts: array[int]) -> bytes:
    """Offsets as the little-endian bytes a run keeps."""
    if sys.byteorder != "little":
        starts.byteswap()
    return starts.tobytes()


def _pack(ids: list[bytes]) -> tuple[bytes, bytes]:
    """A run of sorted, distinct ids: their bytes joined, and ``len(ids) + 1`` offsets."""
    starts = array("I", [0])
    end = 0
    for key in ids:
        end += len(key)
        starts.append(end)
    return b"".join(ids), _packed(starts)


def _unpack(run: tuple[bytes, bytes]) -> Iterator[bytes]:
    """The ids of a run in order, one at a time (a merge holds no list of them)."""
    data, packed = run
    starts = _offsets(packed)
    for i in range(len(starts) - 1):
        yield data[starts[i] : starts[i + 1]]


def _merge(older: tuple[bytes, bytes], newer: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    """One run of the ids of both, streamed: the only new memory is the merged run."""
    data = bytearray()
    starts = array("I", [0])
    last = None
    for key in heapq.merge(_unpack(older), _unpack(newer)):
        if key != last:
            data += key
            starts.append(len(data))
            last = key
    return bytes(data), _packed(starts)


def _run_holds(run: tuple[bytes, bytes], key: bytes) -> bool:
    """Binary search of one run."""
    data, packed = run
    starts = _offsets(packed)
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        found = data[starts[mid] : starts[mid + 1]]
        if found == key:
            return True
        if found < key:
            lo = mid + 1
        else:
            hi = mid
    return False


class CompactIdSet:
    """Membership of strings, added and never removed; exact (no hashing of the ids)."""

    __slots__ = ("recent", "runs")

    def __init__(self, ids: Iterable[str] = ()) -> None:
        """A set holding ``ids``."""
        self.recent: set[str] = set()
        #: ``(joined ids, offsets)``, oldest (largest) first.
        self.runs: list[tuple[bytes, bytes]] = []
        for order_id in ids:
            self.add(order_id)

    def add(self, value: str) -> None:
        """Hold ``value`` (adding one already held changes nothing)."""
        recent = self.recent
        recent.add(value)
        if len(recent) >= RECENT_MAX:
            self._pack_recent()

    def __contains__(self, value: object) -> bool:
        """Whether ``value`` was added."""
        if value in self.recent:
            return True
        if not self.runs or not isinstance(value, str):
            return False
        key = value.encode()
        return any(_run_holds(run, key) for run in self.runs)

    def __iter__(self) -> Iterator[str]:
        """Every id held, once each (tests, and converting back)."""
        seen: set[str] = set(self.recent)
        yield from self.recent
        for run in self.runs:
            for key in _unpack(run):
                value = key.decode()
                if value not in seen:
                    seen.add(value)
                    yield value

    def _pack_recent(self) -> None:
        runs = self.runs
        runs.append(_pack(sorted(v.encode() for v in self.recent)))
        self.recent = set()
        while len(runs) > 1 and self._count(runs[-2]) <= 2 * self._count(runs[-1]):
            if len(runs[-2][0]) + len(runs[-1][0]) > RUN_BYTES_MAX:
                break
            newer = runs.pop()
            older = runs.pop()
            runs.append(_merge(older, newer))

    @staticmethod
    def _count(run: tuple[bytes, bytes]) -> int:
        return len(run[1]) // 4 - 1

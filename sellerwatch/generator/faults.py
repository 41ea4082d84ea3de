"""Faults on request: bounded disorder, duplicates, late events, bad records (SPEC §1.1, §5).

:class:`Faults` transforms the sorted stream day batch by day batch, in four stages:

1. **shuffle** (``shuffle_ms = L``): every event gets an arrival key ``ts + u`` with ``u`` drawn
   from ``[0, L]`` (the same ``u`` for equal ``ts``, so events with equal ``ts`` keep their order)
   and leaves in arrival-key order. Any event before ``e`` has ``ts ≤ key ≤ key_e ≤ ts_e + L``:
   no event is more than ``L`` behind the running maximum, so it is never late under an allowed
   lateness ``≥ L`` and the verdicts do not change (SPEC §1.1).
2. **late** (``late_rate``): an event is held back until an emitted event is more than the
   allowed lateness (5 min) plus up to 3 h past it: it arrives behind the watermark.
3. **duplicates** (``dup_rate``): an emitted event is sent again, byte for byte, up to 10 min
   later (a producer retry).
4. **bad records** (``bad_rate``): after an emitted event, one record that the engine must reject,
   cycling through every case of SPEC §5 (:data:`BAD_CASES`), each derived from a real event
   nearby; a second payment repeats the latest emitted payment under a new ``event_id`` at the
   running maximum ``ts`` (so it is neither a duplicate nor late).

Faults draw from their own ``random.Random``, so asking for faults never changes the events
themselves.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Sequence
from typing import Any, TypeVar

import orjson

from sellerwatch.generator.buffer import Record
from sellerwatch.schemas.events import TS_MAX_EXCLUSIVE, TS_MIN
from sellerwatch.schemas.validation import (
    BAD_ENUM,
    BAD_INTERVAL,
    BAD_VALUE,
    MISSING_FIELD,
    NOT_JSON,
    NOT_OBJECT,
    SECOND_PAYMENT,
    TS_OUT_OF_RANGE,
    UNKNOWN_TYPE,
    WRONG_TYPE,
)

T = TypeVar("T")

#: Allowed lateness of the default policy (SPEC §6): held-back events arrive later than this.
ALLOWED_LATENESS_MS = 300_000

#: Every rejection case of SPEC §5, in the order the bad records cycle through them.
BAD_CASES: tuple[str, ...] = (
    NOT_JSON,
    NOT_OBJECT,
    UNKNOWN_TYPE,
    MISSING_FIELD,
    WRONG_TYPE,
    TS_OUT_OF_RANGE,
    BAD_ENUM,
    BAD_INTERVAL,
    SECOND_PAYMENT,
    BAD_VALUE,
)

#: Enum fields of each event type and values outside their enum.
_ENUMS = {
    "payment": ("channel", ("douyin", "TAOTE", "pinduoduo")),
    "pickup_scan": ("scan", ("lost", "Pickup", "returned")),
    "refund": ("reason", ("damaged", "QUALITY", "")),
    "enrollment": ("action", ("pause", "leave", "JOIN")),
    "subsidy": ("action", ("quit", "enter")),
    "exemption": ("scope", ("city", "warehouse")),
}
#: Integer fields (a JSON 1.0 or true is the wrong type) and string fields of each type.
_INTS = {"payment": ("ts", "amount_cents"), "exemption": ("ts", "start_ts", "end_ts")}
_STRS = {
    "payment": ("order_id", "shop_id", "item_id", "category_id"),
    "shipment": ("order_id", "tracking_no", "carrier"),
    "pickup_scan": ("tracking_no", "carrier"),
    "refund": ("order_id", "refund_id"),
}


class Faults:
    """Applies the requested faults to day batches of the sorted stream."""

    def __init__(
        self,
        rng: random.Random,
        *,
        shuffle_ms: int = 0,
        dup_rate: float = 0.0,
        bad_rate: float = 0.0,
        late_rate: float = 0.0,
    ) -> None:
        """Faults drawn from ``rng``; rates are per emitted event, in ``[0, 1]``."""
        for name, rate in (("dup", dup_rate), ("bad", bad_rate), ("late", late_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"--{name}-rate must be within [0, 1]")
        if shuffle_ms < 0:
            raise ValueError("--shuffle-ms must be >= 0")
        self.rng = rng
        self.shuffle_ms, self.dup_rate, self.bad_rate, self.late_rate = (
            shuffle_ms,
            dup_rate,
            bad_rate,
            late_rate,
        )
        self.active = bool(shuffle_ms or dup_rate or bad_rate or late_rate)
        self.counts: Counter[str] = Counter()
        self.bad_by_reason: Counter[str] = Counter()
        self._arrivals: list[tuple[int, int, Record]] = []
        self._held: list[tuple[int, int, Record]] = []
        self._seq = 0
        self._last_ts = -1
        self._last_u = 0
        self._max_ts = -1
        self._case = 0
        self._bad_no = 0
        self._last_of_type: dict[str, Record] = {}

    def process(self, records: list[Record]) -> list[Record]:
        """The faulty version of one sorted batch (events held back may leave later)."""
        if not self.active:
            return records
        out: list[Record] = []
        if not self.shuffle_ms:
            for record in records:
                self._emit(record, out)
            return out
        arrivals, shuffle_ms, randrange = self._arrivals, self.shuffle_ms, self.rng.randrange
        for record in records:
            ts = record[0]
            if ts != self._last_ts:
                self._last_ts, self._last_u = ts, randrange(shuffle_ms + 1)
            self._seq += 1
            heapq.heappush(arrivals, (ts + self._last_u, self._seq, record))
            while arrivals[0][0] <= ts:
                self._emit(heapq.heappop(arrivals)[2], out)
        return out

    def finish(self) -> list[Record]:
        """Everything still waiting, at the end of the stream."""
        out: list[Record] = []
        while self._arrivals:
            self._emit(heapq.heappop(self._arrivals)[2], out)
        if self._held:
            self.counts["held_to_end"] += len(self._held)
        while self._held:
            out.append(heapq.heappop(self._held)[2])
        return out

    # -- stages 2–4 --------------------------------------------------------------------------
    def _emit(self, record: Record, out: list[Record]) -> None:
        random_ = self.rng.random
        ts = record[0]
        if self.late_rate and random_() < self.late_rate:
            delay = ALLOWED_LATENESS_MS + self.rng.randrange(60_000, 3 * 3_600_000)
            self._hold(ts + delay, record)
            self.counts["late"] += 1
            return
        out.append(record)
        if ts > self._max_ts:
            self._max_ts = ts
        self._last_of_type[record[1]] = record
        if self.dup_rate and random_() < self.dup_rate:
            self._hold(ts + self.rng.randrange(600_000), record)
            self.counts["duplicate"] += 1
        if self.bad_rate and random_() < self.bad_rate:
            bad = self._bad(record)
            if bad is not None:
                out.append(bad)
        held = self._held
        while held and held[0][0] <= self._max_ts:
            out.append(heapq.heappop(held)[2])

    def _hold(self, release_ts: int, record: Record) -> None:
        self._seq += 1
        heapq.heappush(self._held, (release_ts, self._seq, record))

    # -- bad records -------------------------------------------------------------------------
    def _bad(self, record: Record) -> Record | None:
        case = BAD_CASES[self._case % len(BAD_CASES)]
        source = record
        if case == SECOND_PAYMENT or (case == BAD_ENUM and record[1] not in _ENUMS):
            source = self._last_of_type.get("payment", record)
        if case == SECOND_PAYMENT and source[1] != "payment":
            return None  # no payment yet: try this case again next time
        self._case += 1
        self._bad_no += 1
        event: dict[str, Any] = orjson.loads(source[3])
        line = _BUILDERS[case](self, event, source)
        self.bad_by_reason[case] += 1
        self.counts["bad"] += 1
        return (self._max_ts, source[1], source[2], line)

    def _pick(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def _not_json(self, event: dict[str, Any], source: Record) -> bytes:
        line = source[3]
        variant = self.rng.randrange(4)
        if variant == 0:
            return line[: len(line) // 2]  # truncated record
        if variant == 1:
            return repr(event).encode()  # a Python dict, single quotes
        if variant == 2:
            return line.replace(b'"ts":', b'"ts":NaN,"ts_ms":', 1)
        return line[:-2] + b'\xff\xfe"}'  # invalid UTF-8 inside a string

    def _not_object(self, event: dict[str, Any], source: Record) -> bytes:
        return self._pick(
            (b"[" + source[3] + b"]", b"null", b"42", orjson.dumps(source[3].decode()))
        )

    def _unknown_type(self, event: dict[str, Any], source: Record) -> bytes:
        event["type"] = self._pick(("order_created", "Payment", "pickup-scan", "return", ""))
        return orjson.dumps(event)

    def _missing_field(self, event: dict[str, Any], source: Record) -> bytes:
        required = [
            k for k in event if k not in ("type", "official_logistics", "needs_logistics", "region")
        ]
        field = self._pick(tuple(required))
        if self.rng.random() < 0.3:
            event[field] = None  # null on a required field means missing (SPEC §7)
        else:
            del event[field]
        return orjson.dumps(event)

    def _wrong_type(self, event: dict[str, Any], source: Record) -> bytes:
        etype = source[1]
        variant = self.rng.randrange(4)
        ints = _INTS.get(etype, ("ts",))
        if variant == 0:
            field = self._pick(ints)
            return orjson.dumps(event).replace(
                f'"{field}":{event[field]}'.encode(), f'"{field}":{event[field]}.0'.encode(), 1
            )
        if variant == 1:
            event[self._pick(ints)] = True
        elif variant == 2 and etype in _STRS:
            event[self._pick(_STRS[etype])] = 10086
        elif etype == "shipment":
            event["official_logistics"] = "yes"
        else:
            event["ts"] = str(event["ts"])
        return orjson.dumps(event)

    def _ts_out_of_range(self, event: dict[str, Any], source: Record) -> bytes:
        ts = event["ts"]
        event["ts"] = self._pick((ts // 1000, TS_MIN - 1, TS_MAX_EXCLUSIVE, -ts, ts * 1000))
        return orjson.dumps(event)

    def _bad_enum(self, event: dict[str, Any], source: Record) -> bytes:
        field, values = _ENUMS[source[1]]
        event[field] = self._pick(values)
        return orjson.dumps(event)

    def _bad_interval(self, event: dict[str, Any], source: Record) -> bytes:
        start = event["ts"] - event["ts"] % 3_600_000
        end = start - self._pick((0, 3_600_000, 86_400_000))  # equal, or reversed
        report = {
            "type": "exemption",
            "event_id": f"bad-{self._bad_no}",
            "ts": event["ts"],
            "exemption_id": f"FMX{self._bad_no:05d}",
            "scope": "shop",
            "shop_id": event.get("shop_id", "S00001"),
            "start_ts": start,
            "end_ts": end,
        }
        return orjson.dumps(report)

    def _second_payment(self, event: dict[str, Any], source: Record) -> bytes:
        event["event_id"] = f"bad-{self._bad_no}"
        event["ts"] = self._max_ts
        event["amount_cents"] = event["amount_cents"] + 100
        return orjson.dumps(event)

    def _bad_value(self, event: dict[str, Any], source: Record) -> bytes:
        if source[1] == "payment" and self.rng.random() < 0.5:
            event["amount_cents"] = -event["amount_cents"] - 1
        else:
            event["event_id"] = self._pick(("", "x" * 129))
        return orjson.dumps(event)


_BUILDERS = {
    NOT_JSON: Faults._not_json,
    NOT_OBJECT: Faults._not_object,
    UNKNOWN_TYPE: Faults._unknown_type,
    MISSING_FIELD: Faults._missing_field,
    WRONG_TYPE: Faults._wrong_type,
    TS_OUT_OF_RANGE: Faults._ts_out_of_range,
    BAD_ENUM: Faults._bad_enum,
    BAD_INTERVAL: Faults._bad_interval,
    SECOND_PAYMENT: Faults._second_payment,
    BAD_VALUE: Faults._bad_value,
}

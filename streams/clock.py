"""Event-time clock and watermark (SPEC §1.1).

``W`` is the promise that every event with ``ts < W`` has been seen. For one ordered stream
``W = max_ts_seen - L``; over several partitions it is the minimum of the per-partition values,
so a lagging partition holds time back. Two ways for a partition to stop holding it back:

- ``finish(partition)``: read to its end (backtest, embedded replay);
- ``idle`` wall-clock timeout (live only): the driver passes ``now_ms``; the core never reads a
  clock itself.

``W`` never goes back. Only applied events move ``max_ts_seen`` (SPEC §7).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable


def _by_ts(entry: tuple[int | None, Hashable]) -> int:
    return entry[0]  # type: ignore[return-value]


class EventClock:
    """Watermark over partitions, with allowed lateness ``lateness_ms``."""

    def __init__(self, lateness_ms: int, idle_timeout_ms: int | None = None) -> None:
        """A clock with no partition and no watermark yet (``None`` means minus infinity)."""
        if lateness_ms < 0:
            raise ValueError("lateness_ms must be >= 0")
        self.lateness_ms = lateness_ms
        self.idle_timeout_ms = idle_timeout_ms
        self.max_ts: dict[Hashable, int | None] = {}
        self.last_seen_ms: dict[Hashable, int] = {}
        self.released: set[Hashable] = set()
        self.max_ts_seen: int | None = None
        self.watermark: int | None = None
        self.finished = False
        self._single_partition: Hashable | None = None
        # The partition holding W back and the smallest max_ts among the others: while that
        # partition advances without passing them, W follows it without a scan of all of them.
        self._lowest: Hashable | None = None
        self._runner_up: int | float = float("inf")

    def assign(self, partitions: Iterable[Hashable], now_ms: int = 0) -> None:
        """Declare partitions that hold the watermark back until they have data or go idle."""
        self._single_partition = None
        for partition in partitions:
            if partition not in self.max_ts:
                self.max_ts[partition] = None
                self.last_seen_ms[partition] = now_ms
        self._recompute()

    def observe(self, partition: Hashable, ts: int, now_ms: int = 0) -> bool:
        """Account an applied event's ``ts``; returns whether the watermark moved."""
        if self._single_partition is partition and not self.finished:
            # Fast path of one ordered stream (embedded replay): W = max_ts_seen - L.
            if self.max_ts_seen is not None and ts <= self.max_ts_seen:
                return False
            self.max_ts_seen = self.max_ts[partition] = ts
            if self.watermark is None or ts - self.lateness_ms > self.watermark:
                self.watermark = ts - self.lateness_ms
                return True
            return False
        if self.max_ts_seen is None or ts > self.max_ts_seen:
            self.max_ts_seen = ts
        if not self.max_ts and self.idle_timeout_ms is None:
            self._single_partition = partition
        elif self._single_partition is not partition:
            self._single_partition = None
        self.last_seen_ms[partition] = now_ms
        was_released = partition in self.released
        if was_released:
            self.released.discard(partition)  # it has data again: it holds time back again
            self._lowest = None  # and may be the new runner-up: no shortcut until a recompute
        current = self.max_ts.get(partition)
        if current is None or ts > current:
            self.max_ts[partition] = ts
            watermark = self.watermark
            if watermark is None and self._lowest is not None:
                if partition != self._lowest and not was_released:
                    return False  # W waits for the first event of the partition holding it
                return self._recompute()
            if partition == self._lowest and not was_released and ts <= self._runner_up:
                candidate = ts - self.lateness_ms
                if watermark is None or candidate > watermark:
                    self.watermark = candidate
                    return True
                return False
            if (
                not was_released
                and current is not None
                and watermark is not None
                and current - self.lateness_ms > watermark
            ):
                return False  # not the partition holding W back: the minimum cannot move
            return self._recompute()
        return False

    def finish(self, partition: Hashable | None = None) -> bool:
        """A partition (or, with ``None``, the whole input) was read to its end."""
        if partition is None:
            self.finished = True
        else:
            self.released.add(partition)
            self._single_partition = None
        return self._recompute()

    def tick(self, now_ms: int) -> bool:
        """Release partitions idle for longer than the timeout (live mode)."""
        if self.idle_timeout_ms is None:
            return False
        idle = {p for p, seen in self.last_seen_ms.items() if now_ms - seen > self.idle_timeout_ms}
        if idle <= self.released:
            return False
        self.released |= idle
        return self._recompute()

    def is_late(self, ts: int) -> bool:
        """An event with ``ts < W`` is late: it is not applied (SPEC §1.1)."""
        return self.watermark is not None and ts < self.watermark

    def _recompute(self) -> bool:
        self._lowest, self._runner_up = None, float("inf")
        if self.max_ts_seen is None:
            return False
        if self.finished:
            candidate = self.max_ts_seen
        else:
            holding = [(ts, p) for p, ts in self.max_ts.items() if p not in self.released]
            if not holding:
                candidate = self.max_ts_seen - self.lateness_ms
            elif any(ts is None for ts, _ in holding):
                self._lowest = next(p for ts, p in holding if ts is None)
                return False
            else:
                lowest_ts, self._lowest = min(holding, key=_by_ts)
                for ts, p in holding:
                    if p != self._lowest and ts < self._runner_up:  # type: ignore[operator]
                        self._runner_up = ts  # type: ignore[assignment]
                candidate = lowest_ts - self.lateness_ms  # type: ignore[operator]
        if self.watermark is None or candidate > self.watermark:
            self.watermark = candidate
            return True
        return False

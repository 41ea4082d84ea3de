"""Id memory (SPEC §7): which ``event_id`` values a record may not repeat.

A record is a duplicate when its ``event_id`` is remembered with ``ts >= W - horizon``, where
``W`` is the watermark just before the record. An id is (re)remembered with the ts of the record
that put it in memory; a duplicate never refreshes it. Memory is bounded by event time, not by
count: ids are filed by the UTC day of their ts, and a whole day is forgotten once every id in
it lies before ``W - horizon`` (``W`` only grows, so such an id can never be a duplicate again).

Worked example, horizon 1 day (ts in days for short):

=====  ======  ===========  ==========================  ===============================
W      record  remembered   decision                    memory after
=====  ======  ===========  ==========================  ===============================
—      a@5     —            new                         a@5
4      a@6     a@5          duplicate (5 ≥ 4 − 1)       a@5 (not refreshed)
7      a@7     a@5          new (5 < 7 − 1)             a@7 (filed under day 7 too)
=====  ======  ===========  ==========================  ===============================
"""

from __future__ import annotations

DAY_MS = 86_400_000


class IdMemory:
    """The ids seen, each with the ts that put it in memory, filed by UTC day for forgetting."""

    __slots__ = ("horizon_ms", "seen", "by_day", "_day", "_day_ids")

    def __init__(self, horizon_ms: int) -> None:
        """Nothing remembered; ids are kept ``horizon_ms`` of event time behind ``W``."""
        self.horizon_ms = horizon_ms
        #: event_id -> ts of the record that put it in memory.
        self.seen: dict[str, int] = {}
        #: UTC day -> the ids remembered with a ts of that day.
        self.by_day: dict[int, list[str]] = {}
        # The list of the last day filed (most records share the day of the one before).
        self._day = -1
        self._day_ids: list[str] = []

    def seen_again(self, event_id: str, ts: int, watermark: int | None) -> bool:
        """Whether the record is a duplicate; if not, its id is remembered with ``ts``."""
        seen = self.seen
        remembered = seen.get(event_id)
        if remembered is not None and (
            watermark is None or remembered >= watermark - self.horizon_ms
        ):
            return True
        self.remember(event_id, ts)
        return False

    def recall(self, event_ids: list[str]) -> dict[str, int]:
        """The ts each of ``event_ids`` is remembered with, for those remembered (a
        partition's answer to its coordinator, which decides with its own W)."""
        seen = self.seen
        # Most ids of a batch are new: the few remembered are found by a C loop (a set
        # intersection), and listed in a fixed order (the answer is logged, and replayed).
        return {event_id: seen[event_id] for event_id in sorted(seen.keys() & event_ids)}

    def remember(self, event_id: str, ts: int) -> None:
        """Remember ``event_id`` with ``ts``: a coordinator found it new (not a duplicate)."""
        self.seen[event_id] = ts
        utc_day = ts // DAY_MS
        if utc_day == self._day:
            self._day_ids.append(event_id)
        else:
            ids = self.by_day.get(utc_day)
            if ids is None:
                ids = self.by_day[utc_day] = []
            ids.append(event_id)
            self._day, self._day_ids = utc_day, ids

    def forget(self, watermark: int) -> None:
        """Drop the whole UTC days of ids that all lie before ``W - horizon``. An id
        re-remembered with a newer ts is filed under its new day too, and kept."""
        forget_ts = watermark - self.horizon_ms
        seen, by_day = self.seen, self.by_day
        for old in [d for d in by_day if (d + 1) * DAY_MS <= forget_ts]:
            for event_id in by_day.pop(old):
                remembered = seen.get(event_id)
                if remembered is not None and remembered < forget_ts:
                    del seen[event_id]
            if old == self._day:
                self._day, self._day_ids = -1, []

    def __len__(self) -> int:
        """How many ids are remembered."""
        return len(self.seen)


class HeldElsewhere:
    """The id memory of a coordinator whose partitions hold the ids (keyed by ``event_id``):
    the coordinator decides duplicates itself, from what they recall, before the engine's own
    check, which this answers with "never seen" and nothing to forget."""

    __slots__ = ()

    def seen_again(self, event_id: str, ts: int, watermark: int | None) -> bool:
        """Decided before: never a duplicate here."""
        return False

    def forget(self, watermark: int) -> None:
        """Nothing is held here."""

    def __len__(self) -> int:
        """Nothing is held here."""
        return 0

"""Pickup scans expire (SPEC §7: kept twice the join bound) by the day of each waybill's
latest scan: a retention reads only the days old enough, and drops exactly what a walk over
every waybill dropped."""

from __future__ import annotations

from sellerwatch.streams.orders import DAY_MS, OrderBook
from sellerwatch.streams.policy import Policy
from tests.builders import at, pickup

RETENTION = Policy().orphan_retention_ms  # 7 days: scans are kept 14


def _book() -> OrderBook:
    policy = Policy()
    return OrderBook(policy.orphan_retention_ms, policy.quality_refund.refund_within_ms)


def _walked(book: OrderBook, watermark: int) -> set[str]:
    """What the walk over every waybill found (the code before the day index)."""
    horizon = watermark - 2 * RETENTION
    return {k for k, v in book.scans.items() if (v if isinstance(v, int) else v[-1]) < horizon}


def test_a_waybill_expires_by_its_latest_scan_and_only_old_days_are_kept() -> None:
    book = _book()
    book.add_scan(pickup("W1", "2021-07-01 10:00"))
    book.add_scan(pickup("W2", "2021-07-01 11:00"))
    book.add_scan(pickup("W2", "2021-07-09 11:00"))  # its latest moves on: filed again
    book.add_scan(pickup("W3", "2021-07-10 09:00"))
    watermark = at("2021-07-16 00:00")  # horizon 2021-07-02 00:00: only W1 is behind it
    assert book.expiring_scans(watermark) == ["W1"] and _walked(book, watermark) == {"W1"}
    book.expire_orphans(watermark)
    assert set(book.scans) == {"W2", "W3"} and book.orphans_dropped == 1
    assert all(day >= (watermark - 2 * RETENTION) // DAY_MS for day in book.scan_days)
    watermark = at("2021-07-25 00:00")
    assert book.expiring_scans(watermark) == ["W2", "W3"] == sorted(_walked(book, watermark))
    book.expire_orphans(watermark)
    assert not book.scans and book.orphans_dropped == 4
    # the day of the horizon is read again at the next retention, then dropped
    assert set(book.scan_days) <= {(watermark - 2 * RETENTION) // DAY_MS}


def test_a_book_from_an_older_snapshot_files_its_scans_when_read() -> None:
    from sellerwatch.streams import snapshot as codec

    book = _book()
    for tracking, when in [("W1", "2021-07-01 10:00"), ("W2", "2021-07-05 10:00")]:
        book.add_scan(pickup(tracking, when))
    del book.scan_days  # as an older version wrote it
    read = codec.loads(codec.dumps(book, Policy()))
    assert read.scan_days == {
        at("2021-07-01 10:00") // DAY_MS: ["W1"],
        at("2021-07-05 10:00") // DAY_MS: ["W2"],
    }
    watermark = at("2021-07-16 00:00")
    assert read.expiring_scans(watermark) == ["W1"]

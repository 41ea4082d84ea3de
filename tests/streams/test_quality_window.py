"""The quality-refund rule's running window counts, kept from the book's events."""

from __future__ import annotations

from sellerwatch.schemas.events import Payment, Refund
from sellerwatch.streams.orders import OrderBook
from sellerwatch.streams.rules.quality_refund import QualityWindow

DAY = 86_400_000


def _book() -> tuple[OrderBook, QualityWindow]:
    book = OrderBook(orphan_retention_ms=7 * DAY, quality_refund_within_ms=30 * DAY)
    window = book.watch = QualityWindow()
    return book, window


def _pay(book: OrderBook, order_id: str, item: str, day: int) -> None:
    event = Payment(
        event_id=f"p-{order_id}",
        ts=day * DAY,
        order_id=order_id,
        shop_id="s",
        item_id=item,
        category_id="c",
        channel="taobao",
        amount_cents=100,
        region="r",
    )
    book.add_payment(event, paid_day=day, monday=day - day % 7)


def _quality_refund(book: OrderBook, order_id: str, day: int) -> None:
    book.add_order_event(
        Refund(
            event_id=f"r-{order_id}",
            ts=day * DAY + 1,
            order_id=order_id,
            refund_id=f"rf-{order_id}",
            reason="quality",
        )
    )


def test_payments_and_quality_refunds_count_only_inside_the_window() -> None:
    book, window = _book()
    window.move(book.days, 10, 12)
    _pay(book, "in", "i1", 11)
    _pay(book, "out", "i1", 13)
    _quality_refund(book, "in", 12)
    _quality_refund(book, "out", 13)
    assert (window.items["i1"].d, window.items["i1"].n) == (1, 1)
    assert (window.categories["c"].d, window.categories["c"].n) == (1, 1)


def test_moving_the_window_counts_entering_days_and_drops_leaving_ones() -> None:
    book, window = _book()
    for day in (10, 11, 12, 13):
        _pay(book, f"o{day}", "i1", day)
    _quality_refund(book, "o10", 10)
    window.move(book.days, 10, 12)
    assert (window.items["i1"].d, window.items["i1"].n) == (3, 1)
    window.move(book.days, 11, 13)
    assert (window.items["i1"].d, window.items["i1"].n) == (3, 0)
    window.move(book.days, 20, 22)  # no overlap: recounted from nothing
    assert window.items == {} and window.categories == {}

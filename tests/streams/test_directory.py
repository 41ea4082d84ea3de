"""The coordinator's order directory on its own: the worked table of ``streams/directory.py``."""

from __future__ import annotations

from sellerwatch.streams.directory import DAY_MS, OrderDirectory

HORIZON = 35 * DAY_MS


def test_the_worked_table_of_the_module() -> None:
    directory = OrderDirectory(partitions=2)
    directory.place("o1", 1 * DAY_MS, 1)
    assert directory.partition("o1") == 1 and directory.paid_ts("o1") == DAY_MS
    directory.forget_before(40 * DAY_MS - HORIZON)
    assert directory.partition("o1") is None and directory.paid_ts("o1") is None
    assert directory.ever_placed("o1") and not directory.ever_placed("o2")
    directory.place("o1", 42 * DAY_MS, 0)
    assert directory.partition("o1") == 0 and directory.paid_ts("o1") == 42 * DAY_MS


def test_an_id_paid_again_within_the_horizon_stays() -> None:
    directory = OrderDirectory(partitions=3)
    directory.place("o1", 1 * DAY_MS, 2)
    directory.place("o1", 20 * DAY_MS, 1)
    directory.forget_before(40 * DAY_MS - HORIZON)  # day 1 is behind, the payment of day 20 not
    assert directory.partition("o1") == 1 and len(directory) == 1
    directory.forget_before(60 * DAY_MS - HORIZON)
    assert len(directory) == 0 and directory.ever_placed("o1")


def test_a_dict_from_an_older_snapshot_becomes_a_directory() -> None:
    placed = {"o1": 1 * DAY_MS * 2 + 1, "o2": 30 * DAY_MS * 2 + 0}
    directory = OrderDirectory.of(dict(placed), 2)
    assert directory.partition("o1") == 1 and directory.paid_ts("o2") == 30 * DAY_MS
    directory.forget_before(40 * DAY_MS - HORIZON)  # filed as of day 30: nothing moves yet
    assert len(directory) == 2
    directory.forget_before(66 * DAY_MS - HORIZON)
    assert len(directory) == 0 and directory.ever_placed("o1") and directory.ever_placed("o2")

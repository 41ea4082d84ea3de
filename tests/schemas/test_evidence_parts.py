"""An evidence record too large for one Kafka message goes in parts that join back exactly."""

from __future__ import annotations

import random

import pytest

from sellerwatch.schemas.evidence import Evidence, OrderFacts, join, split
from sellerwatch.schemas.verdict import Verdict, encode


def _evidence(orders: int) -> Evidence:
    verdict = Verdict(
        "same_day_ship:incentive:S1:2024-06-03",
        "incentive",
        "same_day_ship",
        "S1",
        None,
        "2024-06-03",
        0,
        "2024-06-03",
        "2024-06-09",
        orders // 2,
        orders,
        0.5,
        0.85,
        0,
        "default",
        {},
    )
    facts = [
        OrderFacts(f"O{i:08d}", i, i + 1, None, None, f"T{i}", counted=i % 2 == 0)
        for i in range(orders)
    ]
    return Evidence(
        verdict.verdict_id,
        verdict,
        "Asia/Shanghai",
        [f.order_id for f in facts],
        [f.order_id for f in facts if f.counted],
        facts,
        {"packages": [f"T{i}" for i in range(orders)]},
    )


@pytest.mark.parametrize("orders", [1, 7, 300, 5000])
def test_every_part_fits_and_the_parts_join_back(orders: int) -> None:
    whole = _evidence(orders)
    limit = 64 * 1024
    parts = split(whole, limit)
    assert [p.part for p in parts] == list(range(1, len(parts) + 1))
    assert all(p.parts == len(parts) for p in parts)
    if len(encode(whole)) <= limit:
        assert parts == [whole]
    else:
        assert len(parts) > 1
        assert all(len(encode(p)) <= limit for p in parts)
    shuffled = parts[:]
    random.Random(orders).shuffle(shuffled)
    assert join(shuffled) == whole


def test_a_missing_part_is_refused() -> None:
    parts = split(_evidence(5000), 64 * 1024)
    with pytest.raises(ValueError, match="parts missing"):
        join(parts[:-1])

"""Every rule is written as the steps of :mod:`streams.rules.steps`, and the engine runs all of
them: one rule missing or run twice would drop or double its verdicts at every instant."""

from __future__ import annotations

from typing import get_args

from sellerwatch.schemas.verdict import Rule
from sellerwatch.streams.engine import PUBLISHED_ORDER, RUN_ORDER
from sellerwatch.streams.rules import campaign_fulfilment, quality_refund, same_day_ship
from sellerwatch.streams.rules.steps import Steps


def test_every_rule_runs_once_and_is_published_in_spec_order() -> None:
    published = [steps.rule for steps in PUBLISHED_ORDER]
    assert published == [
        "same_day_ship",
        "ship48_pickup24",
        "pickup48",
        "quality_refund",
        campaign_fulfilment.RULE,
    ]
    assert sorted(published) == sorted(steps.rule for steps in RUN_ORDER)
    assert set(published) == set(get_args(Rule))


def test_a_rule_that_adds_up_partitions_says_how_and_decides_or_settles() -> None:
    for steps in RUN_ORDER:
        assert isinstance(steps, Steps)
        assert (steps.partial is None) == (steps.combine is None), steps.rule
        assert steps.decide is not None or steps.settle is not None, steps.rule


def test_one_partitions_figures_are_the_totals_as_they_are() -> None:
    """One engine pays nothing for the split: combining one partition returns it unchanged."""
    counts = {"cat": quality_refund.QualityCount()}
    assert quality_refund.STEPS.combine is not None
    assert quality_refund.STEPS.combine([counts]) is counts
    weeks: dict[str, same_day_ship.ShopWeek] = {}
    assert same_day_ship.STEPS.combine is not None
    assert same_day_ship.STEPS.combine([weeks]) is weeks

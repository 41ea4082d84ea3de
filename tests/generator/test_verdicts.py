"""The small profile exercises every rule: every verdict kind comes out of the replay."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.generator.conftest import verdicts

KINDS = {"tag", "untag", "delist", "watch", "fine", "incentive"}


def test_small_profile_yields_every_verdict_kind(small_verdicts: Path) -> None:
    kinds = Counter(v["kind"] for v in verdicts(small_verdicts))
    assert set(kinds) == KINDS, kinds


def test_small_profile_incentive_is_the_anchor_shops_20_cent_tier(small_verdicts: Path) -> None:
    (incentive,) = [v for v in verdicts(small_verdicts) if v["kind"] == "incentive"]
    assert incentive["shop_id"] == "S00001"
    assert incentive["period"] == "2024-06-10"  # the 618 warm-up week
    assert incentive["details"]["cents_per_package"] == 20  # type: ignore[index]
    assert 300 <= incentive["details"]["daily_avg_orders"] < 1000  # type: ignore[index]


def test_quality_refund_fine_follows_a_watch_on_the_refund_spike_item(
    small_verdicts: Path,
) -> None:
    quality = [v for v in verdicts(small_verdicts) if v["rule"] == "quality_refund"]
    first_watch = next(v for v in quality if v["kind"] == "watch")
    first_fine = next(v for v in quality if v["kind"] == "fine")
    assert first_fine["item_id"] == first_watch["item_id"]
    assert first_fine["details"]["observation_start"] == first_watch["period"]  # type: ignore[index]


@pytest.mark.parametrize("seed", [2, 3, 5])
def test_other_seeds_yield_every_verdict_kind_too(tmp_path: Path, seed: int) -> None:
    from tests.generator.conftest import run

    events, out = tmp_path / "events.jsonl", tmp_path / "verdicts.jsonl"
    run("generate", "--profile", "small", "--seed", str(seed), "--out", str(events))
    run("replay", str(events), "--out", str(out))
    assert {v["kind"] for v in verdicts(out)} == KINDS


def test_shipped_sample_is_the_small_profile_with_seed_1(small: Path) -> None:
    sample = ROOT / "examples" / "sample.jsonl.gz"
    assert gzip.decompress(sample.read_bytes()) == small.read_bytes(), (
        "examples/ is stale: regenerate it as examples/README.md says"
    )


def test_shipped_sample_verdicts_are_the_replay_of_the_sample(small_verdicts: Path) -> None:
    shipped = ROOT / "examples" / "sample-verdicts.jsonl"
    assert shipped.read_bytes() == small_verdicts.read_bytes(), (
        "examples/sample-verdicts.jsonl is stale: regenerate it as examples/README.md says"
    )

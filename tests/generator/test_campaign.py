"""``generate --campaign``: a campaign world whose replay breaches in all three ways (issue #13)."""

from __future__ import annotations

from collections import Counter

import pytest

from sellerwatch.generator.campaign import KEEP, LATE_PICKUP, LATE_SHIP, NO_UPDATE
from sellerwatch.generator.pipeline import Generator
from sellerwatch.generator.profiles import PROFILES
from sellerwatch.streams.policy import load_policy
from tests.conftest import ROOT
from tests.generator.conftest import run, verdicts

POLICY = ROOT / "examples" / "policies" / "618-2022.toml"
OPTIONS = ("--profile", "small", "--seed", "1", "--start", "2022-05-28")


@pytest.fixture(scope="module")
def campaign_breaches(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    out = tmp_path_factory.mktemp("campaign")
    events, found = out / "events.jsonl", out / "verdicts.jsonl"
    run("generate", *OPTIONS, "--campaign", str(POLICY), "--out", str(events))
    run("replay", str(events), "--policy", str(POLICY), "--out", str(found))
    return [v for v in verdicts(found) if v["rule"] == "campaign_fulfilment"]


def _manifest() -> dict[str, list[str]]:
    from dataclasses import replace
    from datetime import date

    profile = replace(PROFILES["small"], start=date(2022, 5, 28))
    campaign = load_policy(POLICY).campaigns[0]
    roles = Generator(profile, 1, campaign=campaign).summary().roles
    return {k: v for k, v in roles.items() if k.startswith("campaign ")}


def test_a_campaign_world_breaches_in_all_three_ways(
    campaign_breaches: list[dict[str, object]],
) -> None:
    reasons = Counter(v["details"]["reason"] for v in campaign_breaches)  # type: ignore[index]
    assert set(reasons) == {"not_shipped_in_time", "no_pickup_in_time", "no_update_in_time"}


def test_the_manifest_names_the_shops_of_each_way_and_they_breach_that_way(
    campaign_breaches: list[dict[str, object]],
) -> None:
    manifest = _manifest()
    role_of = {shop: k.split(": ", 1)[1] for k, shops in manifest.items() for shop in shops}
    assert set(role_of.values()) == {KEEP, LATE_SHIP, LATE_PICKUP, NO_UPDATE}
    expected = {
        LATE_SHIP: "not_shipped_in_time",
        LATE_PICKUP: "no_pickup_in_time",
        NO_UPDATE: "no_update_in_time",
    }
    by_shop: dict[str, Counter[str]] = {}
    for v in campaign_breaches:
        by_shop.setdefault(str(v["shop_id"]), Counter())[v["details"]["reason"]] += 1  # type: ignore[index]
    for shop, role in role_of.items():
        if role == KEEP:
            assert shop not in by_shop, (shop, by_shop.get(shop))
        else:
            assert by_shop[shop].most_common(1)[0][0] == expected[role], (shop, by_shop[shop])

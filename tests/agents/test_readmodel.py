"""The Redis read model's staging (pure: no Redis): a shop's campaign breaches are all kept."""

from __future__ import annotations

import orjson

from sellerwatch.agents.readmodel import ReadModel, shop_key
from sellerwatch.schemas.verdict import Evaluation, Verdict


def _breach(order_id: str) -> Verdict:
    return Verdict(
        verdict_id=f"campaign_fulfilment:breach:{order_id}:618-2022",
        kind="breach",
        rule="campaign_fulfilment",
        shop_id="S1",
        item_id="I1",
        period="618-2022",
        decided_at=1654099200000,
        window_start="2022-05-31",
        window_end="2022-06-20",
        numerator=0,
        denominator=1,
        rate=0.0,
        threshold=1.0,
        amount_cents=0,
        policy="618-2022",
        details={"order_id": order_id, "reason": "not_shipped_in_time"},
    )


def test_every_breach_of_a_shop_is_staged_under_the_shop_with_per_campaign_figures() -> None:
    model = ReadModel("redis://localhost:1/0", "p.")  # connects lazily: never here
    figures = Evaluation("campaign_fulfilment", "S1", "618-2022", 1654099200000, 3, 5, None)
    model._stage([_breach("O1"), _breach("O2")], [figures])  # noqa: SLF001 - the pure half
    shop = model._staged[shop_key("p.", "S1")]  # noqa: SLF001
    assert {k for k in shop if k.startswith("breach:")} == {
        "breach:618-2022:O1",
        "breach:618-2022:O2",
    }
    assert orjson.loads(shop["figures:campaign_fulfilment:618-2022"])["numerator"] == 3

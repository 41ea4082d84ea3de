"""The generated marketplace shows what the issue asks for, checked on the events themselves."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import orjson
import pytest

from tests.generator.conftest import lines, run

DAY_MS = 86_400_000
H_MS = 3_600_000
UTC8_MS = 8 * H_MS  # Asia/Shanghai has no DST


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Six weeks of the small profile: long enough for refunds past 30 days."""
    out = tmp_path_factory.mktemp("realism") / "events.jsonl"
    run("generate", "--profile", "small", "--seed", "11", "--days", "42", "--out", str(out))
    return [orjson.loads(line) for line in lines(out)]


def _of(events: list[dict[str, Any]], etype: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == etype]


def test_orders_follow_a_diurnal_curve_with_an_evening_peak_and_a_mass_at_17(
    events: list[dict[str, Any]],
) -> None:
    minutes = Counter((p["ts"] + UTC8_MS) % DAY_MS // 60_000 for p in _of(events, "payment"))
    per_minute = {
        "night": sum(minutes[m] for m in range(180, 300)) / 120,  # 03:00–05:00
        "afternoon": sum(minutes[m] for m in range(900, 960)) / 60,  # 15:00–16:00
        "cutoff": sum(minutes[m] for m in range(1005, 1035)) / 30,  # 16:45–17:15
        "evening": sum(minutes[m] for m in range(1260, 1320)) / 60,  # 21:00–22:00
    }
    assert per_minute["night"] * 5 < per_minute["afternoon"]
    assert per_minute["cutoff"] > 1.3 * per_minute["afternoon"]
    assert per_minute["evening"] > 1.3 * per_minute["afternoon"]


def test_shop_sizes_are_zipf_like(events: list[dict[str, Any]]) -> None:
    sizes = sorted(Counter(p["shop_id"] for p in _of(events, "payment")).values(), reverse=True)
    assert sizes[0] > 5 * sizes[len(sizes) // 2]
    assert sizes[0] > sum(sizes) * 0.3  # the anchor shop


def test_parcels_scans_and_shipments(events: list[dict[str, Any]]) -> None:
    paid = {p["order_id"]: p["ts"] for p in _of(events, "payment")}
    ships = _of(events, "shipment")
    per_waybill = Counter(s["tracking_no"] for s in ships)
    assert max(per_waybill.values()) >= 3  # several orders in one parcel
    scans: dict[str, dict[str, int]] = defaultdict(dict)
    for scan in _of(events, "pickup_scan"):
        scans[scan["tracking_no"]].setdefault(scan["scan"], scan["ts"])
    first_ship = {}
    for s in ships:
        first_ship.setdefault(s["tracking_no"], s["ts"])
    physical = [t for t in first_ship if not t.startswith("VT")]
    assert any(scans[t].get("pickup", 1 << 62) < first_ship[t] for t in physical)  # early scan
    assert any("pickup" not in scans[t] for t in physical)  # missing pickups
    assert sum("transit" in scans[t] for t in physical) > 0.9 * len(physical)
    assert sum("delivered" in scans[t] for t in physical) > 0.85 * len(physical)
    assert any(s.get("needs_logistics") is False for s in ships)  # virtual goods
    assert all(s["ts"] >= paid[s["order_id"]] for s in ships)
    late = sum(s["ts"] - paid[s["order_id"]] > 48 * H_MS for s in ships)
    assert 0 < late < 0.05 * len(ships)


def test_refunds_before_shipment_and_quality_refunds_past_30_days(
    events: list[dict[str, Any]],
) -> None:
    paid = {p["order_id"]: p["ts"] for p in _of(events, "payment")}
    shipped = {s["order_id"] for s in _of(events, "shipment")}
    refunds = _of(events, "refund")
    assert any(r["order_id"] not in shipped for r in refunds)
    quality_days = [
        (r["ts"] - paid[r["order_id"]]) / DAY_MS for r in refunds if r["reason"] == "quality"
    ]
    assert any(d <= 30 for d in quality_days)
    assert any(d > 30 for d in quality_days)


def test_programmes_and_exemptions(events: list[dict[str, Any]]) -> None:
    actions = Counter(e["action"] for e in _of(events, "enrollment"))
    assert set(actions) == {"join", "cancel", "suspend", "resume"}
    assert set(Counter(e["action"] for e in _of(events, "subsidy"))) == {"join", "exit"}
    exemptions = _of(events, "exemption")
    assert {e["scope"] for e in exemptions} == {"shop", "item", "region"}
    too_late = [e for e in exemptions if e["ts"] > e["end_ts"] + 48 * H_MS]
    assert len(too_late) == 1


def test_channels_regions_and_amounts(events: list[dict[str, Any]]) -> None:
    payments = _of(events, "payment")
    assert {p["channel"] for p in payments} == {"taote", "taobao", "tmall"}
    no_region = sum("region" not in p for p in payments)
    assert 0.05 * len(payments) < no_region < 0.2 * len(payments)
    assert all(isinstance(p["amount_cents"], int) and p["amount_cents"] >= 0 for p in payments)

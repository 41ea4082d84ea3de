"""``--metrics`` for campaigns: per (campaign, shop) and instant, judged, kept, and breaches."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "examples" / "policies" / "618-2022.toml"


def test_metrics_lines_add_up_to_the_breach_verdicts(tmp_path: Path) -> None:
    events, verdicts, metrics = (tmp_path / n for n in ("e.jsonl", "v.jsonl", "m.jsonl"))
    subprocess.run(
        [
            "sellerwatch",
            "generate",
            "--profile",
            "small",
            "--seed",
            "1",
            "--start",
            "2022-05-28",
            "--campaign",
            str(POLICY),
            "--out",
            str(events),
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            "sellerwatch",
            "replay",
            "--policy",
            str(POLICY),
            "--out",
            str(verdicts),
            "--metrics",
            str(metrics),
            str(events),
        ],
        check=True,
        capture_output=True,
    )
    lines = [orjson.loads(line) for line in metrics.read_bytes().splitlines()]
    campaign = [m for m in lines if m["rule"] == "campaign_fulfilment"]
    assert campaign
    for line in campaign:
        assert sum(line["breached"].values()) == line["denominator"] - line["numerator"]
    by_reason: Counter[tuple[int, str, str]] = Counter()
    for line in campaign:
        for reason, n in line["breached"].items():
            by_reason[(line["decided_at"], line["subject"], reason)] += n
    breaches: Counter[tuple[int, str, str]] = Counter()
    for raw in verdicts.read_bytes().splitlines():
        v = orjson.loads(raw)
        if v["kind"] == "breach":
            breaches[(v["decided_at"], v["shop_id"], v["details"]["reason"])] += 1
    assert by_reason == breaches
    assert all("breached" not in m for m in lines if m["rule"] != "campaign_fulfilment")

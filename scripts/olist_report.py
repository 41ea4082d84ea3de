"""What the four rules find in real marketplace data (Olist, 2016–2018): figures for docs/olist.md.

Usage: python scripts/olist_report.py [../shared/data/olist/events.jsonl.gz] [docs/img]
Runs the embedded replay with --metrics, then plots verdicts per month and the rate
distributions behind them. Data: "Brazilian E-Commerce Public Dataset by Olist" (CC BY-NC-SA 4.0).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import orjson  # noqa: E402


def main() -> int:
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/olist/events.jsonl.gz")
    out_dir = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/img")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        verdicts_path, metrics_path = Path(tmp) / "v.jsonl", Path(tmp) / "m.jsonl"
        run = subprocess.run(
            [
                "sellerwatch",
                "replay",
                str(source),
                "--out",
                str(verdicts_path),
                "--metrics",
                str(metrics_path),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        sys.stderr.write(run.stderr)
        verdicts = [orjson.loads(line) for line in verdicts_path.read_bytes().splitlines()]
        metrics = [orjson.loads(line) for line in metrics_path.read_bytes().splitlines()]

    by_month: dict[str, Counter[str]] = defaultdict(Counter)
    for v in verdicts:
        by_month[v["period"][:7]][v["kind"]] += 1
    months = sorted(by_month)
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    ax = axes[0]
    bottom = [0] * len(months)
    for kind in ("delist", "tag", "untag", "watch", "fine", "incentive"):
        counts = [by_month[m][kind] for m in months]
        if any(counts):
            ax.bar(months, counts, bottom=bottom, label=kind)
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    ax.set_title("Verdicts per month (Olist sellers and products)")
    ax.set_xticks(
        range(0, len(months), 3), [months[i] for i in range(0, len(months), 3)], rotation=45
    )
    ax.legend()

    def rates(rule: str, min_d: int = 1) -> list[float]:
        return [
            m["numerator"] / m["denominator"]
            for m in metrics
            if m["rule"] == rule and m["denominator"] >= min_d
        ]

    ax = axes[1]
    ax.hist(rates("ship48_pickup24", 3), bins=20, color="tab:red")
    ax.axvline(0.90, color="black", linestyle="--", label="delist below 0.90")
    ax.set_title("ship48_pickup24: 7-day rate per item (d ≥ 3)")
    ax.legend()
    ax = axes[2]
    ax.hist(rates("same_day_ship", 5), bins=20, color="tab:green")
    ax.axvline(0.85, color="black", linestyle="--", label="incentive from 0.85")
    ax.set_title("same_day_ship: weekly on-time rate per shop (d ≥ 5)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "olist_findings.png", dpi=90)

    kinds = Counter(v["kind"] for v in verdicts)
    sds = [m for m in metrics if m["rule"] == "same_day_ship"]
    weekly_max = max((m["denominator"] for m in sds), default=0)
    print(f"verdicts: {dict(sorted(kinds.items()))}")
    print(f"evaluations: {dict(sorted(Counter(m['rule'] for m in metrics).items()))}")
    print(f"largest shop-week: {weekly_max} eligible orders (incentive tiers need 2,100 counted)")
    s48 = rates("ship48_pickup24")
    print(f"ship48 evaluations below 90%: {sum(r < 0.9 for r in s48) / len(s48):.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

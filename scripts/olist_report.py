"""What the four rules find in real marketplace data (Olist, 2016–2018): figures for docs/olist.md.

Usage: python scripts/olist_report.py EVENTS [--out out/olist_findings.png]
Runs the embedded replay with --metrics on EVENTS (the Olist events file, not shipped with the
repository: docs/olist.md), prints the figures and plots verdicts per month and the rate
distributions behind them. Data: "Brazilian E-Commerce Public Dataset by Olist" (CC BY-NC-SA 4.0).
The default output is under out/, so a run never overwrites the tracked docs/img picture.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import orjson  # noqa: E402

PROG = "olist_report"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("events", help="the Olist events JSONL(.gz) file (docs/olist.md)")
    parser.add_argument(
        "--out", default="out/olist_findings.png", help="the picture to write (%(default)s)"
    )
    return parser.parse_args(argv)


def _fail(message: str) -> int:
    sys.stderr.write(f"{PROG}: error: {message}\n")
    return 2


# Evaluations split by how many orders they decided on: on a long-tail catalogue most rates
# rest on one or two orders, and a histogram that left those out would hide most verdicts.
_BANDS = ((1, 1, "d = 1 order"), (2, 2, "d = 2"), (3, 9, "d = 3-9"), (10, None, "d >= 10"))


def _rates(
    metrics: list[dict[str, Any]], rule: str, low: int = 1, high: int | None = None
) -> list[float]:
    return [
        m["numerator"] / m["denominator"]
        for m in metrics
        if m["rule"] == rule
        and m["denominator"] >= low
        and (high is None or m["denominator"] <= high)
    ]


def _rate_panel(
    ax: Any,
    metrics: list[dict[str, Any]],
    rule: str,
    threshold: float,
    threshold_label: str,
    title: str,
    xlabel: str,
) -> None:
    """Every evaluation of ``rule``, stacked by its denominator, with the threshold marked."""
    stacks = [(_rates(metrics, rule, low, high), label) for low, high, label in _BANDS]
    stacks = [(values, label) for values, label in stacks if values]
    total = sum(len(values) for values, _ in stacks)
    below = sum(r < threshold for values, _ in stacks for r in values)
    if stacks:
        ax.hist(
            [values for values, _ in stacks],
            bins=20,
            range=(0.0, 1.0),
            stacked=True,
            label=[f"{label} ({len(values):,})" for values, label in stacks],
        )
    ax.axvline(threshold, color="black", linestyle="--", label=threshold_label)
    ax.set_title(f"{title}\n{total:,} evaluations with d ≥ 1, {below:,} below {threshold:.2f}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("evaluations (count)")
    ax.legend(title="orders in the window (d)", fontsize=8)


def main(argv: list[str] | None = None) -> int:
    """Replay the events, print the findings, draw the picture; 2 with one line on failure."""
    args = _arguments(argv)
    source, picture = Path(args.events), Path(args.out)
    if not source.is_file() or not os.access(source, os.R_OK):
        return _fail(f"cannot read the events file {source} (see docs/olist.md for the data)")
    try:
        picture.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _fail(f"cannot write {picture}: {exc.strerror or exc}")
    with tempfile.TemporaryDirectory() as tmp:
        verdicts_path, metrics_path = Path(tmp) / "v.jsonl", Path(tmp) / "m.jsonl"
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "sellerwatch.cli",
                "replay",
                str(source),
                "--out",
                str(verdicts_path),
                "--metrics",
                str(metrics_path),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        sys.stderr.write(run.stderr)
        if run.returncode != 0:
            return _fail(f"the replay of {source} failed (exit {run.returncode}), see above")
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
    ax.set_xlabel("month of the evaluation period")
    ax.set_ylabel("verdicts (count)")
    ax.set_xticks(
        range(0, len(months), 3), [months[i] for i in range(0, len(months), 3)], rotation=45
    )
    ax.legend(title="verdict kind")

    _rate_panel(
        axes[1],
        metrics,
        "ship48_pickup24",
        0.90,
        "delist below 0.90",
        "ship48_pickup24: 7-day rate per item and day",
        "share of the item's orders shipped in 48 h and picked up in 24 h",
    )
    _rate_panel(
        axes[2],
        metrics,
        "same_day_ship",
        0.85,
        "incentive from 0.85",
        "same_day_ship: weekly on-time rate per shop",
        "share of the shop's eligible orders on time",
    )
    fig.tight_layout()
    try:
        fig.savefig(picture, dpi=90)
    except OSError as exc:
        return _fail(f"cannot write {picture}: {exc.strerror or exc}")

    kinds = Counter(v["kind"] for v in verdicts)
    sds = [m for m in metrics if m["rule"] == "same_day_ship"]
    weekly_max = max((m["denominator"] for m in sds), default=0)
    print(f"verdicts: {dict(sorted(kinds.items()))}")
    print(f"evaluations: {dict(sorted(Counter(m['rule'] for m in metrics).items()))}")
    print(f"largest shop-week: {weekly_max} eligible orders (incentive tiers need 2,100 counted)")
    s48 = _rates(metrics, "ship48_pickup24")
    if s48:
        print(f"ship48 evaluations below 90%: {sum(r < 0.9 for r in s48) / len(s48):.1%}")
    print(f"picture: {picture}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

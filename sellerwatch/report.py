"""The compare report: one self-contained HTML page (plots inlined as PNG), readable offline.

Every plot has labelled axes with units and a legend; tables list the shops and items most
affected and the near-misses (subjects within 2 points of a threshold).
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from sellerwatch.streams.calendar import Calendar

if TYPE_CHECKING:
    from sellerwatch.compare import Comparison, Side

HOUR = 3_600_000
NEAR = 0.02
COLOURS = ("tab:blue", "tab:orange")

#: Per rule: the policy threshold the rate is compared with, and how (for the plot's legend).
RULES = ("same_day_ship", "ship48_pickup24", "pickup48", "quality_refund")


def _threshold(side: Side, rule: str) -> float | None:
    p = side.policy
    if rule == "same_day_ship":
        return float(p.same_day_ship.min_rate)
    if rule == "ship48_pickup24":
        return float(p.ship48_pickup24.max_rate)
    if rule == "pickup48":
        return float(p.pickup48.tag_above)
    return None  # quality_refund compares with 1.5x its category's rate: no single line


def _png(figure: Any) -> str:
    if figure.axes and figure.axes[0].get_xlabel().startswith("evaluation day"):
        figure.autofmt_xdate()  # dates on the x-axis: slanted so that they stay readable
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def _rates_plot(comparison: Comparison, rule: str) -> str | None:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    calendar = comparison.a.policy.calendar()
    figure, axes = plt.subplots(figsize=(8, 3.2))
    drawn = False
    for side, colour, label in zip((comparison.a, comparison.b), COLOURS, ("A", "B"), strict=True):
        by_day: dict[int, list[float]] = defaultdict(list)
        for e in side.evaluations:
            if e.rule == rule and e.denominator:
                by_day[calendar.day_of(e.decided_at)].append(e.numerator / e.denominator)
        if not by_day:
            continue
        days = sorted(by_day)
        rates = [sorted(by_day[d]) for d in days]
        x = [Calendar.iso(d) for d in days]
        median = [r[len(r) // 2] for r in rates]
        low = [r[len(r) // 10] for r in rates]
        high = [r[(len(r) * 9) // 10] for r in rates]
        axes.plot(x, median, color=colour, label=f"{label} ({side.policy.name}): median rate")
        axes.fill_between(x, low, high, color=colour, alpha=0.2, label=f"{label}: 10th–90th pct")
        threshold = _threshold(side, rule)
        if threshold is not None:
            axes.axhline(
                threshold, color=colour, linestyle="--", label=f"{label}: threshold {threshold:g}"
            )
        drawn = True
    if not drawn:
        plt.close(figure)
        return None
    axes.set_title(f"{rule}: daily distribution of n/d over the subjects evaluated")
    axes.set_xlabel("evaluation day (local date)")
    axes.set_ylabel("rate n/d (fraction)")
    axes.set_ylim(-0.02, 1.02)
    axes.xaxis.set_major_locator(MaxNLocator(8))
    axes.legend(fontsize=7, loc="lower left")
    return _png(figure)


def _verdicts_plot(comparison: Comparison) -> str:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    calendar = comparison.a.policy.calendar()
    figure, axes = plt.subplots(figsize=(8, 3.2))
    for side, colour, label in zip((comparison.a, comparison.b), COLOURS, ("A", "B"), strict=True):
        per_day = Counter(calendar.day_of(v.decided_at) for v in side.verdicts.values())
        days = sorted(per_day)
        axes.plot(
            [Calendar.iso(d) for d in days],
            [per_day[d] for d in days],
            marker=".",
            color=colour,
            label=f"{label} ({side.policy.name}): {len(side.verdicts):,} verdicts",
        )
    axes.set_title("verdicts per evaluation day, all rules and kinds")
    axes.set_xlabel("evaluation day (local date)")
    axes.set_ylabel("verdicts (count)")
    axes.xaxis.set_major_locator(MaxNLocator(8))
    axes.legend(fontsize=8)
    return _png(figure)


def _delay_plot(values: list[int], title: str, limits: list[tuple[str, int]], cap_h: int) -> str:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 3.2))
    hours = [min(max(v / HOUR, -cap_h), cap_h) for v in values]
    axes.hist(
        hours, bins=96, color="tab:gray", label=f"orders ({len(values):,}; clipped at ±{cap_h} h)"
    )
    for (label, limit), colour in zip(limits, COLOURS, strict=False):
        axes.axvline(
            limit / HOUR, color=colour, linestyle="--", label=f"{label}: {limit / HOUR:g} h"
        )
    axes.set_title(title)
    axes.set_xlabel("delay (hours)")
    axes.set_ylabel("orders (count)")
    axes.legend(fontsize=8)
    return _png(figure)


def _table(rows: list[list[Any]], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>" if rows else "<p>none</p>"


def _most_affected(comparison: Comparison) -> tuple[str, str]:
    money: Counter[str] = Counter()
    changed: Counter[str] = Counter()
    for entry in comparison.diff:
        record = entry["a"] or entry["b"]
        subject = record["item_id"] or record["shop_id"]
        changed[subject] += 1
        amount_a = entry["a"]["amount_cents"] if entry["a"] else 0
        amount_b = entry["b"]["amount_cents"] if entry["b"] else 0
        money[record["shop_id"]] += amount_b - amount_a
    by_money = sorted(money.items(), key=lambda kv: (-abs(kv[1]), kv[0]))[:10]
    by_count = changed.most_common(10)
    return (
        _table(
            [[shop, f"{cents / 100:+,.2f}"] for shop, cents in by_money if cents],
            ["shop", "money B − A (yuan)"],
        ),
        _table([[subject, n] for subject, n in by_count], ["shop or item", "verdicts changed"]),
    )


def _near_misses(comparison: Comparison) -> str:
    rows = []
    for side, label in ((comparison.a, "A"), (comparison.b, "B")):
        for e in side.evaluations:
            threshold = _threshold(side, e.rule)
            if threshold is None or not e.denominator:
                continue
            rate = e.numerator / e.denominator
            if abs(rate - threshold) <= NEAR:
                rows.append(
                    [label, e.rule, e.subject, e.period, f"{rate:.4f}", threshold, e.verdict or "—"]
                )
    rows.sort(key=lambda r: (r[0], r[1], r[3], r[2]))
    shown = rows[:50]
    note = f"<p>{len(rows):,} near-misses (|n/d − threshold| ≤ {NEAR:g}); the first 50:</p>"
    return note + _table(
        shown, ["policy", "rule", "subject", "period", "rate", "threshold", "verdict"]
    )


def render_html(comparison: Comparison) -> str:
    """The whole report page."""
    import matplotlib

    matplotlib.use("Agg")
    a, b = comparison.a, comparison.b
    summary = comparison.summary()
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>sellerwatch compare: {html.escape(a.policy.name)} vs "
        f"{html.escape(b.policy.name)}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
        "img{max-width:100%}</style></head><body>",
        f"<h1>Policy A <code>{html.escape(a.policy.name)}</code> vs "
        f"B <code>{html.escape(b.policy.name)}</code></h1>",
        "<h2>Summary</h2>",
        _table(
            [
                [
                    k,
                    summary["a"][k] if not isinstance(summary["a"][k], dict) else "",
                    summary["b"][k] if not isinstance(summary["b"][k], dict) else "",
                ]
                for k in ("verdicts", "shops_affected", "items_affected")
            ]
            + [
                [f"money {k}", summary["a"]["money"][k], summary["b"]["money"][k]]
                for k in ("fine_cents", "incentive_cents")
            ],
            ["", "A", "B"],
        ),
        _table([[k, v] for k, v in summary["diff"].items()], ["verdicts", "count"]),
        "<h2>Verdicts per day</h2>",
        _verdicts_plot(comparison),
        "<h2>Rates against thresholds, per rule</h2>",
    ]
    for rule in RULES:
        plot = _rates_plot(comparison, rule)
        parts.append(plot if plot is not None else f"<p>{rule}: no evaluation with orders.</p>")
    s48a, s48b = a.policy.ship48_pickup24, b.policy.ship48_pickup24
    parts += [
        "<h2>Delays with the deadlines</h2>",
        _delay_plot(
            comparison.delays.pay_to_ship(),
            "payment → first shipment",
            [("A ship within", s48a.ship_within_ms), ("B ship within", s48b.ship_within_ms)],
            120,
        ),
        _delay_plot(
            comparison.delays.ship_to_pickup(),
            "first shipment → first pickup scan of its waybill",
            [
                ("A pickup within", s48a.pickup_within_ms),
                ("B pickup within", s48b.pickup_within_ms),
            ],
            72,
        ),
    ]
    by_money, by_count = _most_affected(comparison)
    parts += [
        "<h2>Most affected</h2><h3>By money</h3>",
        by_money,
        "<h3>By verdicts changed</h3>",
        by_count,
        "<h2>Near-misses</h2>",
        _near_misses(comparison),
        "</body></html>",
    ]
    return "\n".join(parts)

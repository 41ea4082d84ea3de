"""``sellerwatch explain VERDICT_ID --evidence FILE``: one verdict, readably, from its evidence.

An appeal is answered from the record: the rule in a sentence (with the policy's own limits,
which the evidence carries), the window, the figures, and every order counted with its
instants in the policy's time zone. Nothing is recomputed here; the evidence is what the
engine counted at ``decided_at``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from sellerwatch.schemas.evidence import Evidence, OrderFacts, decode_evidence, join
from sellerwatch.sources import InputError, open_input

_HOUR = 3_600_000


def find(path: str, verdict_id: str, policy: str | None = None) -> list[Evidence]:
    """Every evidence record of ``verdict_id`` in the JSONL file ``path`` (one per policy),
    its parts joined (a record copied from the evidence topic may come in parts)."""
    needle = msgspec.json.encode(verdict_id)
    found: list[Evidence] = []
    with open_input(path) as stream:
        for number, line in enumerate(stream, 1):
            if needle not in line:
                continue
            try:
                record = decode_evidence(line)
            except msgspec.DecodeError as exc:
                raise InputError(f"{path}:{number}: not an evidence record: {exc}") from None
            if record.verdict_id == verdict_id and policy in (None, record.verdict.policy):
                found.append(record)
    by_policy: dict[str, list[Evidence]] = {}
    for record in found:
        by_policy.setdefault(record.verdict.policy, []).append(record)
    try:
        return [join(parts) for parts in by_policy.values()]
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None


def _hours(ms: int) -> str:
    return f"{ms / _HOUR:g}h"


def _pct(rate: float) -> str:
    return f"{rate * 100:.2f}%"


def sentence(record: Evidence) -> str:
    """The rule behind the verdict, in one sentence with the policy's limits."""
    v, x = record.verdict, record.details
    threshold = _pct(v.threshold)
    if v.rule == "same_day_ship":
        return (
            f"A shop in the same-day-ship plan earns a per-package incentive for a week when at "
            f"least {threshold} of its eligible orders went out with official logistics by "
            f"{x.get('ship_by', '20:00')} (the same day if paid before "
            f"{x.get('cutoff', '17:00')}, else the next day) and were picked up."
        )
    if v.rule == "ship48_pickup24":
        return (
            f"An item in the subsidy activity is delisted when, of its eligible orders paid in "
            f"the window (at least {x.get('min_orders', 1)}), fewer than {threshold} shipped "
            f"within {_hours(int(x.get('ship_within_ms', 48 * _HOUR)))} of payment and were "
            f"picked up within {_hours(int(x.get('pickup_within_ms', 24 * _HOUR)))} of shipment."
        )
    if v.rule == "pickup48":
        return (
            f"An item is tagged while more than {threshold} of its eligible orders paid on one "
            f"day were picked up within {_hours(int(x.get('pickup_within_ms', 48 * _HOUR)))} "
            f"of payment, and untagged when that no longer holds."
        )
    if v.rule == "quality_refund":
        return (
            f"An item is watched when at least {x.get('min_quality_refunds', 6)} of its orders "
            f"paid in the window were refunded for quality and its rate is above "
            f"{v.threshold:g}x its category's; {v.details.get('strikes', 3)} strikes during the "
            f"observation mean a fine."
        )
    return (
        f"A campaign order must ship within {_hours(int(x.get('ship_within_ms', 0)))} and be "
        f"picked up within {_hours(int(x.get('pickup_within_ms', 0)))} of payment, then show a "
        f"transit or delivered update within {_hours(int(x.get('update_within_ms', 0)))} of "
        f"the pickup; a broken step is a breach."
    )


def _figures(record: Evidence) -> Iterator[str]:
    v, x = record.verdict, record.details
    if v.rule == "campaign_fulfilment":
        yield f"Breach: {x.get('reason', v.details.get('reason'))} (step {x.get('step', '?')})"
        return
    if v.rule == "quality_refund":
        threshold = f"{v.threshold:g}x the category's rate"
    else:
        threshold = _pct(v.threshold)
    yield (
        f"Figures: {v.numerator} of {v.denominator} orders = {_pct(v.rate)} (threshold {threshold})"
    )
    if v.rule == "quality_refund":
        n_c, d_c = x.get("category_numerator", 0), x.get("category_denominator", 0)
        rate = n_c / d_c if d_c else 0.0
        yield f"Category {x.get('category_id')}: {n_c} of {d_c} orders = {_pct(rate)}"
    if v.rule == "same_day_ship":
        packages = x.get("packages", [])
        count = len(packages) if isinstance(packages, list) else packages
        yield (
            f"Packages (distinct waybills picked up): {count}; "
            f"orders the plan counted: {x.get('orders_counted_by_plan', '?')}"
        )


def explain(record: Evidence) -> str:
    """The readable page of one verdict."""
    v = record.verdict
    zone = ZoneInfo(record.zone)

    def local(ms: int | None) -> str:
        if ms is None:
            return "-"
        return dt.datetime.fromtimestamp(ms / 1000, zone).strftime("%Y-%m-%d %H:%M:%S")

    subject = f"item {v.item_id} of shop {v.shop_id}" if v.item_id else f"shop {v.shop_id}"
    if v.rule == "campaign_fulfilment":
        subject = f"order {v.details.get('order_id')} ({subject})"
    window_of = "campaign days" if v.rule == "campaign_fulfilment" else "paid dates"
    lines = [
        f"{v.verdict_id}  (policy {v.policy})",
        f"Verdict: {v.kind} {subject}, decided at {local(v.decided_at)} {record.zone}",
        f"Rule {v.rule}: {sentence(record)}",
        f"Window: {v.window_start} to {v.window_end} ({window_of}, {record.zone})",
        *_figures(record),
    ]
    if v.amount_cents:
        lines.append(f"Amount: {v.amount_cents / 100:.2f} ({v.amount_cents} cents)")
    lines.append("")
    lines.append(
        f"Orders counted ({len(record.denominator_orders)}; "
        f"* = in the numerator, {len(record.numerator_orders)}):"
    )
    pickup_from = "paid" if v.rule in ("pickup48", "campaign_fulfilment") else "ship"
    lines.append(
        _row(
            "",
            "order",
            "paid",
            "shipped (after paid)",
            f"picked up (after {pickup_from})",
            "refunded",
            "waybill",
        )
    )
    for order in record.orders:
        lines.append(_order_row(order, local, pickup_from == "paid"))
    if "update_ts" in record.details:
        lines.append(f"First transit/delivered update: {local(_int(record.details['update_ts']))}")
    return "\n".join(lines) + "\n"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def _row(*cells: str) -> str:
    widths = (1, 18, 19, 30, 30, 19, 0)
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()


def _order_row(order: OrderFacts, local: Any, pickup_after_paid: bool) -> str:
    shipped = local(order.ship_ts)
    if order.ship_ts is not None:
        shipped += f" ({(order.ship_ts - order.paid_ts) / _HOUR:+.1f}h)"
    picked = local(order.pickup_ts)
    since = order.paid_ts if pickup_after_paid else order.ship_ts
    if order.pickup_ts is not None and since is not None:
        picked += f" ({(order.pickup_ts - since) / _HOUR:+.1f}h)"
    return _row(
        "*" if order.counted else "",
        order.order_id,
        local(order.paid_ts),
        shipped,
        picked,
        local(order.refund_ts),
        order.tracking_no or "-",
    )


def cmd_explain(args: argparse.Namespace) -> int:
    """Print every evidence record of the verdict; exit 1 when there is none."""
    records = find(args.evidence, args.verdict_id, args.policy)
    if not records:
        sys.stderr.write(
            f"explain: no evidence of {args.verdict_id!r} in {args.evidence}"
            f"{f' under policy {args.policy!r}' if args.policy else ''} "
            "(was it written by replay, backtest or compare with --evidence?)\n"
        )
        return 1
    sys.stdout.write("\n".join(explain(record) for record in records))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``explain``."""
    parser = sub.add_parser(
        "explain",
        help="print one verdict readably: the rule, the window, the figures, the orders",
    )
    parser.add_argument("verdict_id", metavar="VERDICT_ID")
    parser.add_argument(
        "--evidence", required=True, help="the JSONL written by --evidence (.gz or - too)"
    )
    parser.add_argument(
        "--policy", help="the policy name, when the file holds several (compare's evidence)"
    )
    parser.set_defaults(func=cmd_explain)

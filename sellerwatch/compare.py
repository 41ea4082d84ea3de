"""``sellerwatch compare``: two policies over one history, read once; what changes and for whom.

Each record is decoded once and fed to two engines, one per policy, so both see the same
arrival order (and so the same late and duplicate decisions as two replays would). The diff is
by ``verdict_id`` (deterministic, SPEC §4.5): a verdict only under A, only under B, or under both
with other figures. The ``policy`` field is left out of that comparison: it differs by design.
``--since/--until`` keep the verdicts of those evaluation days only; the state is still built
from the whole history before them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from sellerwatch.replay import write_records
from sellerwatch.runtime import tune_gc_for_engine
from sellerwatch.schemas.events import Payment, PickupScan, Shipment
from sellerwatch.schemas.validation import Rejected, decode_event
from sellerwatch.schemas.verdict import Evaluation, Verdict, encode
from sellerwatch.sources import merged
from sellerwatch.streams.calendar import Calendar
from sellerwatch.streams.engine import Engine
from sellerwatch.streams.policy import Policy

#: Fields a diff compares: everything but the policy name stamped on each verdict.
_COMPARED = tuple(f for f in Verdict.__struct_fields__ if f != "policy")


@dataclass
class Side:
    """One policy's run: its engine, its verdicts by id, and its evaluation figures."""

    policy: Policy
    engine: Engine
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    evaluations: list[Evaluation] = field(default_factory=list)
    #: where the orders behind each kept verdict go (``--evidence``), if anywhere
    evidence: IO[bytes] | None = None

    def collect(self, keep: DayFilter) -> None:
        """Take what the engine decided since the last call."""
        for verdict in self.engine.take_verdicts():
            if keep(verdict.decided_at):
                self.verdicts[verdict.verdict_id] = verdict
        self.evaluations += [e for e in self.engine.take_evaluations() if keep(e.decided_at)]
        if self.evidence is not None:
            records = [e for e in self.engine.take_evidence() if keep(e.verdict.decided_at)]
            write_records(self.evidence, records)


@dataclass
class DayFilter:
    """Evaluation instants whose local day lies in ``[since, until]`` (inclusive, optional)."""

    policy: Policy
    since: int | None = None
    until: int | None = None
    calendar: Calendar = field(init=False)

    def __post_init__(self) -> None:
        self.calendar = self.policy.calendar()  # one per run: it caches day boundaries

    def __call__(self, decided_at: int) -> bool:
        if self.since is None and self.until is None:
            return True
        # An evaluation at E_T is about day T: E_T is the instant that starts day T.
        day = self.calendar.day_of(decided_at)
        return (self.since is None or day >= self.since) and (
            self.until is None or day <= self.until
        )


@dataclass
class Delays:
    """Pay→ship and ship→pickup delays of the history (ms), for the report's distributions."""

    paid: dict[str, int] = field(default_factory=dict)
    shipped: dict[str, tuple[int, str]] = field(default_factory=dict)
    picked: dict[str, int] = field(default_factory=dict)

    def see(self, event: object) -> None:
        """Keep the first payment, shipment and pickup scan of each order and waybill."""
        if type(event) is Payment:
            self.paid.setdefault(event.order_id, event.ts)
        elif type(event) is Shipment:
            first = self.shipped.get(event.order_id)
            if first is None or event.ts < first[0]:
                self.shipped[event.order_id] = (event.ts, event.tracking_no)
        elif type(event) is PickupScan and event.scan == "pickup":
            first_scan = self.picked.get(event.tracking_no)
            if first_scan is None or event.ts < first_scan:
                self.picked[event.tracking_no] = event.ts

    def pay_to_ship(self) -> list[int]:
        return [s - self.paid[o] for o, (s, _) in self.shipped.items() if o in self.paid]

    def ship_to_pickup(self) -> list[int]:
        return [self.picked[t] - s for s, t in self.shipped.values() if t in self.picked]


@dataclass
class Comparison:
    """Both runs and their difference."""

    a: Side
    b: Side
    delays: Delays
    diff: list[dict[str, Any]]

    def summary(self) -> dict[str, Any]:
        """Per policy: verdicts per rule and kind, subjects affected, money; the diff counts."""
        changes = Counter(entry["change"] for entry in self.diff)
        return {
            "a": _side_summary(self.a),
            "b": _side_summary(self.b),
            "diff": {
                "only_a": changes["only_a"],
                "only_b": changes["only_b"],
                "changed": changes["changed"],
                "same": len(self.a.verdicts.keys() & self.b.verdicts.keys()) - changes["changed"],
            },
        }


def _side_summary(side: Side) -> dict[str, Any]:
    by_rule: dict[str, Counter[str]] = defaultdict(Counter)
    money: Counter[str] = Counter()
    for verdict in side.verdicts.values():
        by_rule[verdict.rule][verdict.kind] += 1
        if verdict.kind in ("fine", "incentive", "breach"):
            money[f"{verdict.kind}_cents"] += verdict.amount_cents
    values = side.verdicts.values()
    return {
        "policy": side.policy.name,
        "verdicts": len(side.verdicts),
        "by_rule": {rule: dict(sorted(kinds.items())) for rule, kinds in sorted(by_rule.items())},
        "shops_affected": len({v.shop_id for v in values}),
        "items_affected": len({v.item_id for v in values if v.item_id is not None}),
        "money": {
            "fine_cents": money["fine_cents"],
            "incentive_cents": money["incentive_cents"],
            "breach_cents": money["breach_cents"],
        },
    }


def _plain(verdict: Verdict | None) -> dict[str, Any] | None:
    return None if verdict is None else orjson.loads(encode(verdict))


def diff(a: dict[str, Verdict], b: dict[str, Verdict]) -> list[dict[str, Any]]:
    """One entry per ``verdict_id`` that differs, ordered by decision instant then id."""
    out = []
    for verdict_id in a.keys() | b.keys():
        left, right = a.get(verdict_id), b.get(verdict_id)
        if left is not None and right is not None:
            if all(getattr(left, f) == getattr(right, f) for f in _COMPARED):
                continue
            change = "changed"
        else:
            change = "only_a" if right is None else "only_b"
        some = left or right
        assert some is not None  # noqa: S101 - the id came from one of the two
        out.append(
            {
                "verdict_id": verdict_id,
                "change": change,
                "decided_at": some.decided_at,
                "a": _plain(left),
                "b": _plain(right),
            }
        )
    out.sort(key=lambda entry: (entry["decided_at"], entry["verdict_id"]))
    return out


def _records(inputs: list[str], policies: tuple[Policy, Policy]) -> Iterator[tuple[Any, Any]]:
    """Each record decoded once per distinct ``max_record_bytes`` (usually exactly once)."""
    first, second = policies
    for decoded, raw, _, _ in merged(inputs, None, first.max_record_bytes):
        if second.max_record_bytes == first.max_record_bytes:
            yield decoded, decoded
        else:
            yield decoded, decode_event(raw, second.max_record_bytes)


class Comparing:
    """Both policies' engines fed the same records, each decoded once per distinct
    ``max_record_bytes``: the files' driver (:func:`compare`) and the topics' one
    (``compare --from-topics``) feed it alike."""

    def __init__(
        self,
        policy_a: Policy,
        policy_b: Policy,
        *,
        since: int | None = None,
        until: int | None = None,
        evidence: IO[bytes] | None = None,
    ) -> None:
        """Two fresh engines; the orders behind every kept verdict go to ``evidence``."""
        tune_gc_for_engine()
        self.policies = (policy_a, policy_b)
        self.sides = [
            Side(
                policy,
                Engine(policy, collect_evaluations=True, collect_evidence=evidence is not None),
                evidence=evidence,
            )
            for policy in self.policies
        ]
        self.keeps = [DayFilter(side.policy, since, until) for side in self.sides]
        self.delays = Delays()
        self._fed = 0

    def decode(self, raw: bytes) -> tuple[Any, Any]:
        """One raw record as each policy decodes it (once when their size limits agree)."""
        first, second = self.policies
        decoded = decode_event(raw, first.max_record_bytes)
        if second.max_record_bytes == first.max_record_bytes:
            return decoded, decoded
        return decoded, decode_event(raw, second.max_record_bytes)

    def assign(self, sources: list[str]) -> None:
        """The watermark inputs of a multi-partition history (topics)."""
        for side in self.sides:
            side.engine.assign(list(sources))

    def feed(self, decoded: tuple[Any, Any], source: object = 0) -> None:
        """One record, to both engines."""
        for side, record in zip(self.sides, decoded, strict=True):
            if type(record) is Rejected:
                side.engine.reject(record)
            else:
                side.engine.accept(record, source)
        if type(decoded[0]) is not Rejected:
            self.delays.see(decoded[0])
        self._fed += 1
        if self._fed % 4096 == 0:
            self.collect()

    def end(self, source: object) -> None:
        """A partition of a multi-partition history was read to its end."""
        for side in self.sides:
            side.engine.finish_partition(source)

    def collect(self) -> None:
        """Take what both engines decided so far."""
        for side, keep in zip(self.sides, self.keeps, strict=True):
            side.collect(keep)

    def finish(self) -> Comparison:
        """End of the input: the last evaluations, then the diff."""
        for side in self.sides:
            side.engine.finish()
        self.collect()
        a, b = self.sides
        return Comparison(a, b, self.delays, diff(a.verdicts, b.verdicts))


def compare(
    inputs: list[str],
    policy_a: Policy,
    policy_b: Policy,
    *,
    since: int | None = None,
    until: int | None = None,
    evidence: IO[bytes] | None = None,
) -> Comparison:
    """Run both policies over ``inputs`` (read once) and diff their verdicts; the orders
    behind every kept verdict of either policy go to ``evidence`` (each names its policy)."""
    comparing = Comparing(policy_a, policy_b, since=since, until=until, evidence=evidence)
    for decoded in _records(inputs, (policy_a, policy_b)):
        comparing.feed(decoded)
    return comparing.finish()


def write_report(comparison: Comparison, folder: Path) -> list[Path]:
    """``diff.jsonl``, ``summary.json`` and ``report.html`` in ``folder``; returns their paths."""
    from sellerwatch.report import render_html

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    diff_path = folder / "diff.jsonl"
    with diff_path.open("wb") as out:
        for entry in comparison.diff:
            out.write(orjson.dumps(entry) + b"\n")
    written.append(diff_path)
    summary_path = folder / "summary.json"
    summary_path.write_bytes(orjson.dumps(comparison.summary(), option=orjson.OPT_INDENT_2))
    written.append(summary_path)
    html_path = folder / "report.html"
    html_path.write_text(render_html(comparison), encoding="utf-8")
    written.append(html_path)
    return written

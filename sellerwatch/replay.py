"""Embedded replay: run the core on JSONL files, no broker (the backtest path on files).

Verdicts are written as JSONL in SPEC §4.5 field order; rejected and late records go to their
own sinks with where they came from; with ``metrics`` every evaluation's figures too.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO

import msgspec
import orjson

from sellerwatch.atomic import BinarySink
from sellerwatch.runtime import tune_gc_for_engine
from sellerwatch.schemas.validation import Rejected
from sellerwatch.schemas.verdict import Verdict, encode
from sellerwatch.sorting import sorted_records
from sellerwatch.sources import Record, merged
from sellerwatch.streams.accounting import Outcome
from sellerwatch.streams.calendar import Calendar
from sellerwatch.streams.engine import Engine, second_payment
from sellerwatch.streams.partitioned import PartitionedEngine
from sellerwatch.streams.policy import Policy

#: Above this share of late records the summary suggests ``--sort`` (issue #10).
LATE_WARNING_SHARE = 0.01


@dataclass
class Summary:
    """What a replay did: the accounting identity, orphans, and verdicts per kind."""

    accounting: dict[str, Any]
    orphans_dropped: int
    verdicts_by_kind: Counter[str] = field(default_factory=Counter)
    watermark: int | None = None
    #: Local day ordinals of the first and last evaluation (``None``: nothing evaluated).
    evaluated: tuple[int, int] | None = None
    policy: Policy = field(default_factory=Policy)

    def lines(self) -> list[str]:
        """Human-readable closing summary."""
        a = self.accounting
        out = [
            f"records in {a['in']:,}: applied {a['applied']:,}, duplicate {a['duplicate']:,}, "
            f"late {a['late']:,}, rejected {a['rejected']:,}"
            + (
                " (balanced)"
                if a["in"] == a["applied"] + a["duplicate"] + a["late"] + a["rejected"]
                else " (UNBALANCED)"
            ),
        ]
        if a["rejected_by_reason"]:
            reasons = ", ".join(f"{k} {v:,}" for k, v in a["rejected_by_reason"].items())
            out.append(f"rejected by reason: {reasons}")
        out.append(f"orphans dropped (never joined an order or waybill): {self.orphans_dropped:,}")
        late_share = a["late"] / a["in"] if a["in"] else 0.0
        if late_share > LATE_WARNING_SHARE:
            out.append(
                f"warning: {late_share:.0%} of the records were late: the input is probably not "
                "sorted by ts; replay it with --sort"
            )
        total = sum(self.verdicts_by_kind.values())
        kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(self.verdicts_by_kind.items())) or "none"
        out.append(f"verdicts {total:,}: {kinds}")
        out.append(self._evaluated_line())
        if total == 0:
            out.append(self._why_none())
        return out

    def _evaluated_line(self) -> str:
        """Which local days were evaluated and where the watermark ended (issue #12)."""
        tz = self.policy.timezone
        if self.watermark is None:
            return (
                f"evaluated nothing: no record was applied, so the watermark never started ({tz})"
            )
        ended = datetime.fromtimestamp(self.watermark / 1000, Calendar(tz).tz)
        where = f"watermark ended at {ended.isoformat(sep=' ', timespec='seconds')}"
        if self.evaluated is None:
            return (
                f"evaluated no day ({tz}): the first evaluation is at 00:00 of the day after "
                f"the earliest event; {where}"
            )
        first, last = self.evaluated
        days = last - first + 1
        span = Calendar.iso(first) if days == 1 else f"{Calendar.iso(first)}–{Calendar.iso(last)}"
        return f"evaluated {span} ({days:,} day{'s' if days != 1 else ''}, {tz}); {where}"

    def _why_none(self) -> str:
        """What each rule needs before it can decide anything, in this policy's numbers."""
        p = self.policy
        weekly = 7 + p.same_day_ship.settle_delay_days
        return (
            f"no verdicts: the weekly rule needs Monday + {weekly} days, delist needs "
            f"T−{p.ship48_pickup24.lag_days} (a {p.ship48_pickup24.window_days}-day window), "
            f"the pickup48 tag T−{p.pickup48.lag_days}, a quality_refund watch "
            f"{p.quality_refund.min_quality_refunds}+ quality refunds within "
            f"{p.quality_refund.window_days} days; replay more days of events"
        )


def dead_letter(record: Record, rejected: Rejected) -> bytes:
    """A dead-letter line: reason, message, source file and line, the raw bytes untouched."""
    _, raw, source, line = record
    body: dict[str, Any] = {
        "reason": rejected.reason,
        "message": rejected.message,
        "file": source,
        "line": line,
    }
    try:
        body["raw"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        body["raw_base64"] = base64.b64encode(raw).decode("ascii")
    return orjson.dumps(body)


def late_letter(record: Record, watermark: int | None) -> bytes:
    """A late-sink line: the record, where it came from, and the watermark it missed."""
    _, raw, source, line = record
    return orjson.dumps(
        {"file": source, "line": line, "watermark": watermark, "raw": raw.decode("utf-8")}
    )


def replay(
    inputs: list[str],
    *,
    policy: Policy | None = None,
    out: BinarySink,
    rejects: BinarySink | None = None,
    late: BinarySink | None = None,
    metrics: BinarySink | None = None,
    evidence: BinarySink | None = None,
    warnings: BinarySink | None = None,
    lateness_ms: int | None = None,
    progress: Callable[[int], None] | None = None,
    streams: list[BinaryIO] | None = None,
    sort: bool = False,
    partitions: int = 1,
) -> Summary:
    """Replay ``inputs`` through one engine and write every output; returns the summary.

    ``streams``, when given, are the inputs already opened (by :func:`open_inputs`), one per name.
    ``partitions`` above 1 splits the state by item over that many shards
    (:class:`streams.partitioned.PartitionedEngine`): the same outputs, the scaled-out dataflow.
    """
    policy = policy or Policy()
    collect = metrics is not None
    engine: Engine
    options: dict[str, Any] = {
        "collect_evaluations": collect,
        "collect_evidence": evidence is not None,
        "collect_warnings": warnings is not None,
        "lateness_ms": lateness_ms,
    }
    if partitions > 1:
        engine = PartitionedEngine(policy, partitions=partitions, **options)
    else:
        engine = Engine(policy, **options)
    tune_gc_for_engine()
    by_kind: Counter[str] = Counter()

    def flush() -> None:
        verdicts = engine.take_verdicts()
        if verdicts:
            write_verdicts(out, verdicts, by_kind)
        if metrics is not None:
            write_records(metrics, engine.take_evaluations())
        if evidence is not None:
            write_records(evidence, engine.take_evidence())
        if warnings is not None:
            write_records(warnings, engine.take_warnings())

    accept, reject = engine.accept, engine.reject
    APPLIED = Outcome.APPLIED  # noqa: N806 - a local alias in the hot loop
    count = 0
    reader = sorted_records if sort else merged
    for record in reader(inputs, streams, policy.max_record_bytes):
        decoded = record[0]
        if type(decoded) is Rejected:
            reject(decoded)
            if rejects is not None:
                rejects.write(dead_letter(record, decoded) + b"\n")
        else:
            outcome = accept(decoded)  # type: ignore[arg-type]
            if outcome is not APPLIED:
                if outcome is Outcome.LATE and late is not None:
                    late.write(late_letter(record, engine.clock.watermark) + b"\n")
                elif outcome is Outcome.REJECTED and rejects is not None:
                    paid = second_payment(decoded)  # type: ignore[arg-type]
                    rejects.write(dead_letter(record, paid) + b"\n")
            if engine.verdicts or engine.warnings:
                flush()
        count += 1
        if progress is not None and count % 50_000 == 0:
            progress(count)
    engine.finish()
    flush()
    return Summary(
        engine.accounting.as_dict(),
        engine.orphans_dropped,
        by_kind,
        engine.watermark,
        _evaluated_days(engine, policy),
        policy,
    )


def _evaluated_days(engine: Engine, policy: Policy) -> tuple[int, int] | None:
    """First and last local day evaluated: from the day after the earliest applied ts to W."""
    if engine.min_ts is None or engine.watermark is None:
        return None
    calendar = policy.calendar()
    first = calendar.day_of(engine.min_ts) + 1
    last = calendar.day_of(engine.watermark)
    return (first, last) if last >= first else None


def write_records(sink: BinarySink, records: Sequence[msgspec.Struct]) -> None:
    """Write records (evaluations, evidence, warnings) as JSONL, nothing when there are none."""
    if records:
        sink.write(b"".join(encode(record) + b"\n" for record in records))


def write_verdicts(out: BinarySink, verdicts: Iterable[Verdict], by_kind: Counter[str]) -> None:
    """Write verdicts as JSONL and count them by kind."""
    lines = []
    for verdict in verdicts:
        by_kind[verdict.kind] += 1
        lines.append(encode(verdict))
    out.write(b"\n".join(lines) + b"\n")

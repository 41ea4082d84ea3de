"""``sellerwatch generate``: write a synthetic workload to a file, a directory or Kafka."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sellerwatch.atomic import OutputError, all_or_nothing, replaced_on_success
from sellerwatch.generator.buffer import Record
from sellerwatch.generator.pipeline import FaultOptions, Generator
from sellerwatch.generator.profiles import PROFILES
from sellerwatch.generator.timebase import FOLLOW_UP_DAYS
from sellerwatch.generator.writer import FileSink, SinkError, SplitSink, produce
from sellerwatch.schemas.events import TS_MAX_EXCLUSIVE, TS_MIN
from sellerwatch.sources import InputError
from sellerwatch.streams.calendar import Calendar
from sellerwatch.streams.campaigns import Campaign
from sellerwatch.streams.policy import load_policy

#: Allowed range of every numeric option (documented in ``--help``): far above the ``large``
#: profile, low enough that a typo cannot make a run grow without bound.
LIMITS: dict[str, tuple[float, float]] = {
    "days": (1, 1_000),
    "shops": (1, 100_000),
    "items_per_shop": (1, 1_000),
    "orders_per_day": (0, 1_000_000),
    "shuffle_ms": (0, 86_400_000),
    "dup_rate": (0.0, 1.0),
    "bad_rate": (0.0, 1.0),
    "late_rate": (0.0, 1.0),
}


def _limit(name: str) -> str:
    low, high = LIMITS[name]
    return f"{low:,}..{high:,}" if isinstance(high, int) else f"{low}..{high}"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``generate`` sub-command."""
    gp = sub.add_parser(
        "generate",
        help="generate a synthetic marketplace's events (deterministic for a seed)",
        description="Generate input events (SPEC §2) sorted by ts: a Zipf-sized marketplace in "
        "Asia/Shanghai time, with programme memberships, exemptions and faults on request.",
    )
    gp.add_argument("--seed", type=int, required=True, help="random seed; same seed, same bytes")
    gp.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="small",
        help="size preset: small ~20k events, medium ~300k, large >= 3M (default small)",
    )
    gp.add_argument(
        "--days",
        type=int,
        help=f"local days to generate, {_limit('days')} (default: the profile's)",
    )
    gp.add_argument(
        "--shops", type=int, help=f"number of shops, {_limit('shops')} (default: the profile's)"
    )
    gp.add_argument(
        "--items-per-shop", type=int, help=f"average items per shop, {_limit('items_per_shop')}"
    )
    gp.add_argument(
        "--orders-per-day",
        type=int,
        help=f"ordinary orders per day, {_limit('orders_per_day')}, spread Zipf-like over shops "
        "(incentive anchor shops come on top)",
    )
    gp.add_argument(
        "--start",
        type=date.fromisoformat,
        help="first local day, YYYY-MM-DD (default 2024-06-01, a Saturday); every ts must "
        "fall in 2000-01-01..2099-12-31 UTC (SPEC §2)",
    )
    gp.add_argument(
        "--tz",
        default="Asia/Shanghai",
        help="business time zone, an IANA name (default Asia/Shanghai)",
    )
    gp.add_argument(
        "--campaign",
        metavar="POLICY.toml",
        help="lay the first [[campaign]] of this policy over the calendar: shops that keep "
        "its promise and shops that break it each way (SPEC §4.6; listed in the summary)",
    )
    out = gp.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", metavar="FILE", help="one JSONL file (.gz by suffix, - for stdout)")
    out.add_argument(
        "--split-dir",
        metavar="DIR",
        help="one JSONL file per input topic: payments, shipments, pickup-scans, "
        "refunds, seller-programs",
    )
    out.add_argument("--to-kafka", action="store_true", help="produce to the input topics")
    gp.add_argument("--bootstrap", default="localhost:9092", help="Kafka bootstrap servers")
    gp.add_argument(
        "--topic-prefix",
        default=os.environ.get("SELLERWATCH_TOPIC_PREFIX", ""),
        help="prefix of every topic name (default: $SELLERWATCH_TOPIC_PREFIX or none)",
    )
    faults = gp.add_argument_group("faults")
    faults.add_argument(
        "--shuffle-ms",
        type=int,
        default=0,
        metavar="L",
        help=f"bounded disorder: no event more than L ms behind the running max "
        f"({_limit('shuffle_ms')})",
    )
    faults.add_argument("--dup-rate", type=float, default=0.0, help="share of events sent twice")
    faults.add_argument(
        "--bad-rate",
        type=float,
        default=0.0,
        help="bad records per event, cycling through every rejection case",
    )
    faults.add_argument(
        "--late-rate",
        type=float,
        default=0.0,
        help="share of events held back beyond the allowed lateness (5 min)",
    )
    gp.set_defaults(func=cmd_generate)


def _check_options(args: argparse.Namespace, overrides: dict[str, Any]) -> None:
    """Refuse, with a one-line error, an option no sane run needs (issue #8 item 7)."""
    given = {**overrides, **{n: getattr(args, n) for n in LIMITS if n not in overrides}}
    for name, value in given.items():
        if name not in LIMITS or value is None:
            continue
        low, high = LIMITS[name]
        if not low <= value <= high:  # NaN fails too
            raise InputError(f"--{name.replace('_', '-')} must be in {_limit(name)}, got {value}")
    try:
        ZoneInfo(args.tz)
    except Exception:  # noqa: BLE001 - KeyError, ValueError or OSError ("Asia" is a directory)
        raise InputError(
            f"--tz: unknown time zone {args.tz!r} (an IANA name such as 'Asia/Shanghai')"
        ) from None


def _check_range(start: date, days: int, tz: str) -> None:
    """Every generated ts (start … days + follow-ups) must be in the SPEC's ts range."""
    calendar = Calendar(tz)
    first = calendar.start_of(start.toordinal())
    last = calendar.start_of(start.toordinal() + days + FOLLOW_UP_DAYS + 2)
    if first < TS_MIN or last >= TS_MAX_EXCLUSIVE:
        raise InputError(
            f"--start {start.isoformat()} with {days} days (and {FOLLOW_UP_DAYS} follow-up days) "
            "gives ts outside 2000-01-01..2099-12-31 UTC (SPEC §2)"
        )


def cmd_generate(args: argparse.Namespace) -> int:
    """Run the generator into the chosen sink and print the summary on stderr."""
    with all_or_nothing():
        return _generate(args)


def _generate(args: argparse.Namespace) -> int:
    from sellerwatch.progress import Progress

    profile = PROFILES[args.profile]
    overrides = {
        name: value
        for name, value in (
            ("days", args.days),
            ("shops", args.shops),
            ("items_per_shop", args.items_per_shop),
            ("orders_per_day", args.orders_per_day),
            ("start", args.start),
        )
        if value is not None
    }
    _check_options(args, overrides)
    configured = replace(profile, **overrides)
    _check_range(configured.start, configured.days, args.tz)
    try:
        generator = Generator(
            configured,
            args.seed,
            FaultOptions(args.shuffle_ms, args.dup_rate, args.bad_rate, args.late_rate),
            tz_name=args.tz,
            campaign=_campaign(args.campaign),
        )
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    with Progress(enabled=sys.stderr.isatty(), label="events") as progress:
        batches = _counted(generator.batches(), progress.update)
        try:
            if args.to_kafka:
                asyncio.run(
                    produce(batches, bootstrap=args.bootstrap, topic_prefix=args.topic_prefix)
                )
            elif args.out is not None:
                with replaced_on_success(args.out) as path:
                    _write(FileSink(path), batches, args.out)
            else:
                _write(SplitSink(args.split_dir), batches, args.split_dir)
        except SinkError as exc:
            raise OutputError(str(exc)) from exc
    for line in generator.summary().text():
        sys.stderr.write(line + "\n")
    return 0


def _campaign(path: str | None) -> Campaign | None:
    """The first campaign of the policy file at ``path`` (a one-line error otherwise)."""
    if path is None:
        return None
    campaigns = load_policy(path).campaigns
    if not campaigns:
        raise ValueError(f"--campaign {path}: the policy defines no [[campaign]]")
    return campaigns[0]


def _write(sink: FileSink | SplitSink, batches: Iterator[list[Record]], name: str) -> None:
    """Every batch into ``sink``; a write error (a full disk) names the output."""
    try:
        try:
            for batch in batches:
                sink.write(batch)
        finally:
            sink.close()
    except OSError as exc:
        raise OutputError(f"cannot write {name}: {exc.strerror or exc}") from exc


def _counted(
    batches: Iterator[list[Record]], update: Callable[[int], None]
) -> Iterator[list[Record]]:
    count = 0
    for batch in batches:
        count += len(batch)
        update(count)
        yield batch

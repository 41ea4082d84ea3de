"""``sellerwatch generate``: write a synthetic workload to a file, a directory or Kafka."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date

from sellerwatch.generator.buffer import Record
from sellerwatch.generator.pipeline import FaultOptions, Generator
from sellerwatch.generator.profiles import PROFILES
from sellerwatch.generator.writer import FileSink, SinkError, SplitSink, produce
from sellerwatch.sources import InputError


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
    gp.add_argument("--days", type=int, help="local days to generate (default: the profile's)")
    gp.add_argument("--shops", type=int, help="number of shops (default: the profile's)")
    gp.add_argument("--items-per-shop", type=int, help="average items per shop")
    gp.add_argument(
        "--orders-per-day",
        type=int,
        help="ordinary orders per day, spread Zipf-like over shops (incentive "
        "anchor shops come on top)",
    )
    gp.add_argument(
        "--start",
        type=date.fromisoformat,
        help="first local day, YYYY-MM-DD (default 2024-06-01, a Saturday)",
    )
    gp.add_argument(
        "--tz", default="Asia/Shanghai", help="business time zone (default Asia/Shanghai)"
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
        help="bounded disorder: no event more than L ms behind the running max",
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


def cmd_generate(args: argparse.Namespace) -> int:
    """Run the generator into the chosen sink and print the summary on stderr."""
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
    for name in ("days", "shops", "items_per_shop"):
        if name in overrides and overrides[name] < 1:
            raise InputError(f"--{name.replace('_', '-')} must be >= 1")
    if overrides.get("orders_per_day", 0) < 0:
        raise InputError("--orders-per-day must be >= 0")
    try:
        generator = Generator(
            replace(profile, **overrides),
            args.seed,
            FaultOptions(args.shuffle_ms, args.dup_rate, args.bad_rate, args.late_rate),
            tz_name=args.tz,
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
            else:
                sink = FileSink(args.out) if args.out is not None else SplitSink(args.split_dir)
                try:
                    for batch in batches:
                        sink.write(batch)
                finally:
                    sink.close()
        except SinkError as exc:
            raise InputError(str(exc)) from exc
    for line in generator.summary().text():
        sys.stderr.write(line + "\n")
    return 0


def _counted(
    batches: Iterator[list[Record]], update: Callable[[int], None]
) -> Iterator[list[Record]]:
    count = 0
    for batch in batches:
        count += len(batch)
        update(count)
        yield batch

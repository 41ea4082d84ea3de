"""``sellerwatch compare`` on the command line: two ``--policy`` files, inputs, a report folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

from sellerwatch.atomic import AtomicOutputs, all_or_nothing, check_distinct
from sellerwatch.sources import InputError, open_input
from sellerwatch.streams.calendar import Calendar
from sellerwatch.streams.policy import Policy, PolicyError, load_policy

if TYPE_CHECKING:
    from sellerwatch.compare import Comparison


def _day(value: str | None, flag: str) -> int | None:
    if value is None:
        return None
    try:
        return Calendar.ordinal(value)
    except ValueError:
        raise InputError(f"{flag}: expected a local date YYYY-MM-DD, got {value!r}") from None


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare two policies over the inputs and write the report folder."""
    from sellerwatch.compare import compare, write_report

    if len(args.policy) != 2:
        raise InputError("compare needs exactly two --policy files (A, then B)")
    policy_a, policy_b = (load_policy(path) for path in args.policy)
    if policy_a.name == policy_b.name:
        raise PolicyError(f"both policies are named {policy_a.name!r}: give them distinct names")
    since, until = _day(args.since, "--since"), _day(args.until, "--until")
    if since is not None and until is not None and since > until:
        raise InputError("--since is after --until")
    if bool(args.inputs) == bool(args.from_topics):
        raise InputError("compare reads INPUT files or --from-topics, one of the two")
    for name in args.inputs:
        open_input(name).close()  # a one-line error now, not half-way through
    if args.evidence:
        check_distinct(args.inputs, {"--evidence": args.evidence})
    try:
        import matplotlib  # noqa: F401 - the report's plots
    except ModuleNotFoundError:
        raise InputError("the report needs matplotlib: pip install 'sellerwatch[report]'") from None
    with all_or_nothing(), AtomicOutputs() as outputs:
        evidence = outputs.open(args.evidence) if args.evidence else None
        sink = cast(IO[bytes], evidence) if evidence is not None else None
        if args.from_topics:
            comparison = _from_topics(args, policy_a, policy_b, since, until, sink)
        else:
            comparison = compare(
                args.inputs, policy_a, policy_b, since=since, until=until, evidence=sink
            )
        if evidence is not None:
            evidence.flush()
        outputs.commit()
    written = write_report(comparison, Path(args.report))
    changes = comparison.summary()["diff"]
    sys.stderr.write(
        f"compare: {policy_a.name} {len(comparison.a.verdicts):,} verdicts, "
        f"{policy_b.name} {len(comparison.b.verdicts):,}; only A {changes['only_a']:,}, "
        f"only B {changes['only_b']:,}, changed {changes['changed']:,}, same {changes['same']:,}\n"
    )
    if args.evidence:
        written.append(Path(args.evidence))
    for path in written:
        sys.stderr.write(f"compare: wrote {path}\n")
    return 0


def _from_topics(
    args: argparse.Namespace,
    policy_a: Policy,
    policy_b: Policy,
    since: int | None,
    until: int | None,
    evidence: IO[bytes] | None,
) -> Comparison:
    """Both policies over the input topics' history (read once), as ``backtest`` reads it."""
    import asyncio

    from sellerwatch.agents.cli import reach_kafka
    from sellerwatch.agents.history import HistoryReader, feed
    from sellerwatch.agents.settings import Settings
    from sellerwatch.compare import Comparing

    settings = Settings()  # the variables; the flags win
    bootstrap = args.bootstrap or settings.bootstrap
    prefix = settings.topic_prefix if args.topic_prefix is None else args.topic_prefix
    reach_kafka(bootstrap)
    comparing = Comparing(policy_a, policy_b, since=since, until=until, evidence=evidence)
    reader = HistoryReader(bootstrap, prefix)
    try:
        asyncio.run(feed(reader, comparing, comparing.decode))
    except RuntimeError as exc:
        if not str(exc).startswith("no input topics"):
            raise
        raise InputError(f"{exc} (load them with `sellerwatch produce`)") from None
    return comparing.finish()


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``compare``."""
    parser = sub.add_parser(
        "compare", help="run two policies over one history and report what changes (what-if)"
    )
    parser.add_argument(
        "inputs", nargs="*", metavar="INPUT", help="JSONL file(s), .gz, or - (or --from-topics)"
    )
    parser.add_argument(
        "--from-topics",
        action="store_true",
        help="read the input topics' history instead of files, as backtest does",
    )
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (env SELLERWATCH_BOOTSTRAP)")
    parser.add_argument(
        "--topic-prefix", help="prefix of every topic name (env SELLERWATCH_TOPIC_PREFIX)"
    )
    parser.add_argument(
        "--policy", action="append", default=[], required=True, help="policy A, then policy B"
    )
    parser.add_argument("--since", help="first evaluation day kept (local date YYYY-MM-DD)")
    parser.add_argument("--until", help="last evaluation day kept (local date YYYY-MM-DD)")
    parser.add_argument(
        "--report", required=True, help="folder for diff.jsonl, summary.json, report.html"
    )
    parser.add_argument(
        "--evidence",
        help="the orders behind every verdict of both policies, JSONL (sellerwatch explain "
        "--policy NAME)",
    )
    parser.set_defaults(func=cmd_compare)

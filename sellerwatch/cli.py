"""``sellerwatch`` command line: replay (files), generate, and the Kafka commands."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import PackageNotFoundError, version

from sellerwatch.agents.settings import SettingsError
from sellerwatch.atomic import (
    AtomicOutputs,
    Interrupted,
    OutputError,
    all_or_nothing,
    check_distinct,
)
from sellerwatch.sources import InputError
from sellerwatch.streams.policy import Policy, PolicyError, load_policy, parse_duration_ms

#: Exit status of a run stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report it).
INTERRUPTED = 130


def _policy(path: str | None) -> Policy:
    return load_policy(path) if path else Policy()


def lateness_ms(value: str | None) -> int | None:
    """``--lateness``: ``None`` when absent; an empty or bad value is refused, not ignored."""
    if value is None:
        return None
    try:
        return parse_duration_ms(value, "--lateness")
    except PolicyError as exc:
        raise InputError(str(exc)) from exc


def cmd_replay(args: argparse.Namespace) -> int:
    """Run the embedded replay; outputs appear only once the whole input was read."""
    from sellerwatch.progress import Progress
    from sellerwatch.replay import replay
    from sellerwatch.sources import open_inputs

    policy = _policy(args.policy)
    lateness = lateness_ms(args.lateness)
    sinks = {
        option: path
        for option, path in (
            ("--out", args.out if args.out is not None else "-"),
            ("--rejects", args.rejects),
            ("--late", args.late),
            ("--metrics", args.metrics),
            ("--evidence", args.evidence),
            ("--warnings", args.warnings),
        )
        if path is not None
    }
    check_distinct(args.inputs, sinks)
    streams = open_inputs(args.inputs)
    with (
        all_or_nothing(),
        AtomicOutputs() as outputs,
        Progress(enabled=sys.stderr.isatty()) as progress,
    ):
        opened = {option: outputs.open(path) for option, path in sinks.items()}
        summary = replay(
            args.inputs,
            policy=policy,
            out=opened["--out"],
            rejects=opened.get("--rejects"),
            late=opened.get("--late"),
            metrics=opened.get("--metrics"),
            evidence=opened.get("--evidence"),
            warnings=opened.get("--warnings"),
            lateness_ms=lateness,
            progress=progress.update,
            streams=streams,
            sort=args.sort,
            partitions=args.partitions,
        )
        for sink in opened.values():
            sink.flush()
        outputs.commit()
    for line in summary.lines():
        sys.stderr.write(line + "\n")
    return 0


def _positive(text: str) -> int:
    """An integer of at least 1 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _version() -> str:
    try:
        return version("sellerwatch")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    from sellerwatch.envhelp import epilog

    parser = argparse.ArgumentParser(
        prog="sellerwatch",
        description="Seller-service rules on order event streams.",
        epilog=epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sellerwatch {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    rp = sub.add_parser(
        "replay",
        help="run the rules on JSONL event files (no broker)",
        description="Run the rules on JSONL event files. Every output is written to a "
        "temporary file beside it and renamed into place only when the whole input was read.",
    )
    rp.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="JSONL file(s), .gz, - for stdin, or any readable path (FIFO, <(...))",
    )
    rp.add_argument("--policy", help="policy TOML file (default: the SPEC defaults)")
    rp.add_argument("--out", help="verdicts JSONL (default: stdout)")
    rp.add_argument("--rejects", help="dead letters: rejected records with reason, file and line")
    rp.add_argument("--late", help="late records (ts behind the watermark)")
    rp.add_argument("--metrics", help="every evaluation's figures, also without a verdict")
    rp.add_argument(
        "--evidence",
        help="the orders behind every verdict, one JSONL record each (sellerwatch explain)",
    )
    rp.add_argument(
        "--warnings",
        help="early warnings: at each evaluation, the delists and fines the data already "
        "foresees if nothing else arrives (JSONL)",
    )
    rp.add_argument("--lateness", help="allowed lateness, e.g. 5m (default: the policy's)")
    rp.add_argument(
        "--sort",
        action="store_true",
        help="sort the inputs by ts first (an external merge sort in bounded memory), for "
        "histories that are not in event-time order",
    )
    rp.add_argument(
        "--partitions",
        type=_positive,
        default=1,
        metavar="N",
        help="split the state by item over N partitions, as a scaled-out deployment does "
        "(default 1: one engine); the verdicts are the same for every N",
    )
    rp.set_defaults(func=cmd_replay)
    from sellerwatch import commands

    commands.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sellerwatch`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (InputError, PolicyError, SettingsError, OutputError) as exc:
        sys.stderr.write(f"sellerwatch: error: {exc}\n")
        return 2
    except BrokenPipeError:
        return 0
    except Interrupted:
        sys.stderr.write("sellerwatch: interrupted: no outputs written\n")
        return INTERRUPTED
    except KeyboardInterrupt:
        sys.stderr.write("sellerwatch: interrupted\n")
        return INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())

"""``sellerwatch`` command line: replay (files), generate, and the Kafka commands."""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack
from typing import IO

from agents.settings import SettingsError
from sellerwatch.sources import InputError
from streams.policy import Policy, PolicyError, load_policy, parse_duration_ms


def _policy(path: str | None) -> Policy:
    return load_policy(path) if path else Policy()


def _open_out(stack: ExitStack, path: str | None) -> IO[bytes] | None:
    if path is None:
        return None
    if path == "-":
        return sys.stdout.buffer
    try:
        return stack.enter_context(open(path, "wb"))  # noqa: SIM115
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from exc


def cmd_replay(args: argparse.Namespace) -> int:
    """Run the embedded replay and print the closing summary on stderr."""
    from sellerwatch.progress import Progress
    from sellerwatch.replay import replay

    policy = _policy(args.policy)
    lateness = parse_duration_ms(args.lateness, "--lateness") if args.lateness else None
    for name in args.inputs:
        if name != "-" and not os.path.isfile(name):
            raise InputError(f"cannot read input {name}: no such file")
    with ExitStack() as stack, Progress(enabled=sys.stderr.isatty()) as progress:
        out = _open_out(stack, args.out) or sys.stdout.buffer
        summary = replay(
            args.inputs,
            policy=policy,
            out=out,
            rejects=_open_out(stack, args.rejects),
            late=_open_out(stack, args.late),
            metrics=_open_out(stack, args.metrics),
            lateness_ms=lateness,
            progress=progress.update,
        )
        out.flush()
    for line in summary.lines():
        sys.stderr.write(line + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(
        prog="sellerwatch", description="Seller-service rules on order event streams."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    rp = sub.add_parser("replay", help="run the rules on JSONL event files (no broker)")
    rp.add_argument("inputs", nargs="+", metavar="INPUT", help="JSONL file(s), .gz, or - for stdin")
    rp.add_argument("--policy", help="policy TOML file (default: the SPEC defaults)")
    rp.add_argument("--out", help="verdicts JSONL (default: stdout)")
    rp.add_argument("--rejects", help="dead letters: rejected records with reason, file and line")
    rp.add_argument("--late", help="late records (ts behind the watermark)")
    rp.add_argument("--metrics", help="every evaluation's figures, also without a verdict")
    rp.add_argument("--lateness", help="allowed lateness, e.g. 5m (default: the policy's)")
    rp.set_defaults(func=cmd_replay)
    from sellerwatch import commands

    commands.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sellerwatch`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (InputError, PolicyError, SettingsError) as exc:
        sys.stderr.write(f"sellerwatch: error: {exc}\n")
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

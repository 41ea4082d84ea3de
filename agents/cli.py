"""Kafka sub-commands: worker, produce, backtest, status, topics."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import replace

import orjson

from agents.settings import Settings


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings()
    if getattr(args, "bootstrap", None):
        settings = replace(settings, bootstrap=args.bootstrap)
    if getattr(args, "topic_prefix", None) is not None:
        settings = replace(settings, topic_prefix=args.topic_prefix)
    if getattr(args, "redis", None) is not None:
        settings = replace(settings, redis_url=args.redis or None)
    if getattr(args, "policy", None):
        settings = replace(settings, policy_path=args.policy)
    if getattr(args, "ingest", None):
        settings = replace(settings, ingest=args.ingest)
    if getattr(args, "web_port", None):
        settings = replace(settings, web_port=args.web_port)
    return settings


def cmd_worker(args: argparse.Namespace) -> int:
    """Run the live worker (Faust) until interrupted."""
    from faust import Worker

    from agents.app import create_app
    from sellerwatch.runtime import tune_gc_for_engine

    settings = _settings(args)
    tune_gc_for_engine()
    app = create_app(settings, stop_at_end=args.stop_at_end)
    worker = Worker(app, loglevel=args.loglevel)
    worker.execute_from_commandline()
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    """Load JSONL files into the input topics."""
    from agents.produce import produce_files

    settings = _settings(args)
    counts = asyncio.run(produce_files(settings.bootstrap, settings.topic_prefix, args.files))
    for topic, count in sorted(counts.items()):
        sys.stderr.write(f"{topic}: {count:,}\n")
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    """Replay the input topics through a fresh engine and write the verdicts."""
    from agents.backtest import backtest
    from sellerwatch.runtime import tune_gc_for_engine

    tune_gc_for_engine()
    settings = _settings(args)
    with open(args.out, "wb") if args.out != "-" else os.fdopen(1, "wb", closefd=False) as out:
        engine = asyncio.run(
            backtest(settings.bootstrap, settings.topic_prefix, out, settings.policy())
        )
    accounting = engine.accounting.as_dict()
    sys.stderr.write(f"backtest: {orjson.dumps(accounting).decode()}\n")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Print the read model of a shop or item id."""
    from agents.readmodel import read_subject_sync

    settings = _settings(args)
    if not settings.redis_url:
        sys.stderr.write("sellerwatch: error: no Redis configured (SELLERWATCH_REDIS_URL)\n")
        return 2
    found = read_subject_sync(settings.redis_url, settings.topic_prefix, args.subject)
    sys.stdout.write(orjson.dumps(found, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0 if len(found) > 1 else 1


def cmd_topics(args: argparse.Namespace) -> int:
    """Create every topic with its partitions and retention."""
    from agents.topics import Topics, ensure_topics

    settings = _settings(args)
    asyncio.run(ensure_topics(settings.bootstrap, Topics(settings.topic_prefix)))
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (env SELLERWATCH_BOOTSTRAP)")
    parser.add_argument(
        "--topic-prefix", help="prefix of every topic name (env SELLERWATCH_TOPIC_PREFIX)"
    )


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the Kafka sub-commands."""
    worker = sub.add_parser("worker", help="run the live worker on Kafka (Faust)")
    _common(worker)
    worker.add_argument("--redis", help="Redis URL for the read model ('' to disable)")
    worker.add_argument("--policy", help="policy TOML file")
    worker.add_argument("--web-port", type=int, help="web port (default 6066)")
    worker.add_argument(
        "--ingest",
        choices=("direct", "sequenced"),
        help="direct: the engine owner reads the inputs (default); sequenced: every worker "
        "copies its share into the engine log (env SELLERWATCH_INGEST)",
    )
    worker.add_argument("--loglevel", default="info")
    worker.add_argument(
        "--stop-at-end",
        action="store_true",
        help="mark input partitions finished at the end offsets seen at start (demos, tests)",
    )
    worker.set_defaults(func=cmd_worker)

    produce = sub.add_parser("produce", help="load JSONL events into the input topics")
    _common(produce)
    produce.add_argument("files", nargs="+", metavar="FILE")
    produce.set_defaults(func=cmd_produce)

    backtest = sub.add_parser("backtest", help="replay the input topics and write the verdicts")
    _common(backtest)
    backtest.add_argument("--from-topics", action="store_true", required=True)
    backtest.add_argument("--policy", help="policy TOML file")
    backtest.add_argument("--out", required=True, help="verdicts JSONL (- for stdout)")
    backtest.set_defaults(func=cmd_backtest)

    status = sub.add_parser("status", help="figures and latest verdicts of a shop or item")
    _common(status)
    status.add_argument("--redis", help="Redis URL")
    status.add_argument("subject", metavar="SHOP_OR_ITEM")
    status.set_defaults(func=cmd_status)

    topics = sub.add_parser("topics", help="create every topic")
    _common(topics)
    topics.set_defaults(func=cmd_topics)

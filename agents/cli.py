"""Kafka sub-commands: worker, produce, backtest, status, topics.

Before a command does any work it checks, within :data:`REACH_TIMEOUT_S`, that the broker (or
Redis) answers: left alone, aiokafka and redis-py retry or wait for the system's connect timeout
and end in a traceback. An unreachable service is one line naming the setting to check, exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import IO, cast
from urllib.parse import urlsplit, urlunsplit

import orjson

from sellerwatch.agents.kafka_security import KafkaAccessError, client_options, describe_access
from sellerwatch.agents.settings import Settings, SettingsError, redis_password

#: Seconds a command waits for Kafka or Redis to answer before it gives up.
REACH_TIMEOUT_S = 15.0

_KAFKA_HINT = "check SELLERWATCH_BOOTSTRAP / --bootstrap"
_REDIS_HINT = "check SELLERWATCH_REDIS_URL / --redis"


@contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Mute a client library's own error log while we report the failure ourselves."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)


async def _probe_kafka(bootstrap: str, timeout_s: float) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000), **client_options()
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
    finally:
        await admin.close()


def reach_kafka(bootstrap: str, timeout_s: float = REACH_TIMEOUT_S) -> None:
    """Raise :class:`KafkaAccessError` (one line) unless the broker answers within ``timeout_s``."""
    from aiokafka.errors import KafkaConnectionError, KafkaError

    try:
        with _quiet("aiokafka"):
            asyncio.run(_probe_kafka(bootstrap, timeout_s))
    except TimeoutError:
        raise KafkaAccessError(
            f"cannot reach Kafka at {bootstrap} within {timeout_s:.0f} s ({_KAFKA_HINT})"
        ) from None
    except (KafkaError, OSError) as exc:
        access = describe_access()
        tls = "" if access == "PLAINTEXT" else f"; connecting {access}: check SELLERWATCH_KAFKA_*"
        # "Unable to bootstrap from [(host, port, family)]" only repeats the address.
        why = "" if isinstance(exc, KafkaConnectionError) else f": {_first_line(exc)}"
        raise KafkaAccessError(
            f"cannot reach Kafka at {bootstrap} ({_KAFKA_HINT}{tls}){why}"
        ) from None


def _redacted(url: str) -> str:
    """The URL without its password, for an error message."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def reach_redis(url: str, timeout_s: float = REACH_TIMEOUT_S) -> None:
    """Raise :class:`SettingsError` (one line) unless Redis at ``url`` answers a PING."""
    import redis

    password = redis_password()
    try:
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            **({"password": password} if password else {}),
        )
    except ValueError as exc:
        raise SettingsError(f"bad Redis URL {_redacted(url)!r} ({_REDIS_HINT}): {exc}") from None
    try:
        client.ping()
    except redis.exceptions.AuthenticationError as exc:
        raise SettingsError(
            f"Redis at {_redacted(url)} refused the login (check SELLERWATCH_REDIS_PASSWORD"
            f"(_FILE) or the URL): {_first_line(exc)}"
        ) from None
    except redis.exceptions.RedisError as exc:
        raise SettingsError(
            f"cannot reach Redis at {_redacted(url)} ({_REDIS_HINT}): {_first_line(exc)}"
        ) from None
    finally:
        client.close()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


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
    if getattr(args, "web_port", None):
        settings = replace(settings, web_port=args.web_port)
    return settings


def cmd_worker(args: argparse.Namespace) -> int:
    """Run the live worker (Faust) until interrupted."""
    from sellerwatch.agents.app import create_app
    from sellerwatch.agents.stop_deadline import BoundedStopWorker
    from sellerwatch.runtime import tune_gc_for_engine

    settings = _settings(args)
    tune_gc_for_engine()
    app = create_app(settings, stop_at_end=args.stop_at_end)
    worker = BoundedStopWorker(app, loglevel=args.loglevel, stop_timeout_s=settings.stop_timeout_s)
    worker.execute_from_commandline()
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    """Load JSONL files into the input topics."""
    from sellerwatch.agents.produce import produce_files
    from sellerwatch.agents.topics import Topics, ensure_topics

    settings = _settings(args)
    reach_kafka(settings.bootstrap)
    # Created here first so that new input topics get SELLERWATCH_INPUT_PARTITIONS; the loader's
    # own ensure_topics then finds them all.
    asyncio.run(
        ensure_topics(
            settings.bootstrap,
            Topics(settings.topic_prefix),
            input_partitions=settings.input_partitions,
        )
    )
    counts = asyncio.run(produce_files(settings.bootstrap, settings.topic_prefix, args.files))
    for topic, count in sorted(counts.items()):
        sys.stderr.write(f"{topic}: {count:,}\n")
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    """Replay the input topics through a fresh engine and write the verdicts."""
    from sellerwatch.agents.backtest import backtest
    from sellerwatch.atomic import AtomicOutputs, all_or_nothing, check_distinct
    from sellerwatch.runtime import tune_gc_for_engine

    tune_gc_for_engine()
    settings = _settings(args)
    policy = settings.policy()
    sinks = {
        option: path
        for option, path in (
            ("--out", args.out),
            ("--evidence", args.evidence),
            ("--warnings", args.warnings),
        )
        if path
    }
    check_distinct([], sinks)
    # The output is opened first (a bad --out fails before any broker work) and, like replay's,
    # renamed into place only when the whole history was read.
    with all_or_nothing(), AtomicOutputs() as outputs:
        out = outputs.open(args.out)
        evidence = outputs.open(args.evidence) if args.evidence else None
        warnings = outputs.open(args.warnings) if args.warnings else None
        reach_kafka(settings.bootstrap)
        try:
            engine = asyncio.run(
                backtest(
                    settings.bootstrap,
                    settings.topic_prefix,
                    cast(IO[bytes], out),
                    policy,
                    evidence=cast(IO[bytes], evidence) if evidence is not None else None,
                    warnings=cast(IO[bytes], warnings) if warnings is not None else None,
                )
            )
        except RuntimeError as exc:
            if not str(exc).startswith("no input topics"):
                raise
            raise SettingsError(
                f"{exc} (load them with `sellerwatch produce`, or check SELLERWATCH_TOPIC_PREFIX"
                " / --topic-prefix)"
            ) from None
        out.flush()
        for sink in (evidence, warnings):
            if sink is not None:
                sink.flush()
        outputs.commit()
    accounting = engine.accounting.as_dict()
    sys.stderr.write(f"backtest: {orjson.dumps(accounting).decode()}\n")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Print the read model of a shop or item id."""
    from sellerwatch.agents.readmodel import read_subject_sync

    settings = _settings(args)
    if not settings.redis_url:
        sys.stderr.write("sellerwatch: error: no Redis configured (SELLERWATCH_REDIS_URL)\n")
        return 2
    reach_redis(settings.redis_url)
    found, missing = read_subject_sync(settings.redis_url, settings.topic_prefix, args.subject)
    sys.stdout.write(orjson.dumps(found, option=orjson.OPT_INDENT_2).decode() + "\n")
    if missing is not None:
        sys.stderr.write(
            "sellerwatch: warning: the read model may lack verdicts committed while it could not "
            f"be written ({orjson.dumps(missing).decode()}); the engine owner is reading them "
            "back from the verdict topics (its log says when it is done; if it gave up: stop "
            "the workers and run `sellerwatch rebuild-read-model`)\n"
        )
    return 0 if len(found) > 1 else 1


def cmd_topics(args: argparse.Namespace) -> int:
    """Create every topic with its partitions and retention."""
    from sellerwatch.agents.topics import Topics, ensure_topics

    settings = _settings(args)
    reach_kafka(settings.bootstrap)
    topics = Topics(settings.topic_prefix)
    asyncio.run(
        ensure_topics(settings.bootstrap, topics, input_partitions=settings.input_partitions)
    )
    sys.stderr.write(
        f"topics: every topic under prefix {settings.topic_prefix!r} exists on "
        f"{settings.bootstrap} (new input topics: {settings.input_partitions} partitions)\n"
    )
    return 0


def kafka_arguments(parser: argparse.ArgumentParser) -> None:
    """``--bootstrap`` and ``--topic-prefix``, as every Kafka command takes them."""
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (env SELLERWATCH_BOOTSTRAP)")
    parser.add_argument(
        "--topic-prefix", help="prefix of every topic name (env SELLERWATCH_TOPIC_PREFIX)"
    )


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the Kafka sub-commands."""
    worker = sub.add_parser("worker", help="run the live worker on Kafka (Faust)")
    kafka_arguments(worker)
    worker.add_argument("--redis", help="Redis URL for the read model ('' to disable)")
    worker.add_argument("--policy", help="policy TOML file")
    worker.add_argument("--web-port", type=int, help="web port (default 6066)")
    worker.add_argument("--loglevel", default="info")
    worker.add_argument(
        "--stop-at-end",
        action="store_true",
        help="mark input partitions finished at the end offsets seen at start (demos, tests)",
    )
    worker.set_defaults(func=cmd_worker)

    produce = sub.add_parser("produce", help="load JSONL events into the input topics")
    kafka_arguments(produce)
    produce.add_argument("files", nargs="+", metavar="FILE")
    produce.set_defaults(func=cmd_produce)

    backtest = sub.add_parser("backtest", help="replay the input topics and write the verdicts")
    kafka_arguments(backtest)
    backtest.add_argument(
        "--from-topics",
        action="store_true",
        help="read the input topics' history (the default and only source; accepted for old "
        "scripts)",
    )
    backtest.add_argument("--policy", help="policy TOML file")
    backtest.add_argument("--out", required=True, help="verdicts JSONL (- for stdout)")
    backtest.add_argument(
        "--evidence", help="the orders behind every verdict, JSONL (sellerwatch explain)"
    )
    backtest.add_argument(
        "--warnings", help="early warnings of delists and fines, JSONL (as replay's)"
    )
    backtest.set_defaults(func=cmd_backtest)

    status = sub.add_parser("status", help="figures and latest verdicts of a shop or item")
    kafka_arguments(status)
    status.add_argument("--redis", help="Redis URL")
    status.add_argument("subject", metavar="SHOP_OR_ITEM")
    status.set_defaults(func=cmd_status)

    topics = sub.add_parser(
        "topics",
        help="create every topic (input partitions: env SELLERWATCH_INPUT_PARTITIONS, default 4)",
    )
    kafka_arguments(topics)
    topics.set_defaults(func=cmd_topics)

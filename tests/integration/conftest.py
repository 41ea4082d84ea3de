"""Real Kafka 3.9 broker and Redis, started by ``deploy/local/up.sh`` when not already up.

Each test gets its own topic prefix, so runs are isolated on one broker. Workers are real
``sellerwatch worker`` processes (so ``kill -9`` is real too).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.integration.own_broker import OwnBroker
from tests.integration.own_redis import OwnRedis
from tests.integration.tcp_proxy import ProxyThread
from tests.integration.topics import delete_prefixed

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = os.environ.get("SELLERWATCH_BOOTSTRAP", "localhost:9092")
REDIS_URL = os.environ.get("SELLERWATCH_REDIS_URL", "redis://localhost:6379/0")
KAFKA_PORT = int(BOOTSTRAP.split(",")[0].rpartition(":")[2])
REDIS_PORT = urllib.parse.urlsplit(REDIS_URL).port or 6379
VERDICT_TOPICS = (
    "verdicts.tag",
    "verdicts.delist",
    "verdicts.fine",
    "verdicts.watch",
    "verdicts.incentive",
    "verdicts.breach",
)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def deploy_env() -> dict[str, str]:
    """The environment for ``deploy/local/{up,down}.sh``: the ports the tests use."""
    return {
        **os.environ,
        "KAFKA_PORT": os.environ.get("KAFKA_PORT", str(KAFKA_PORT)),
        "REDIS_PORT": os.environ.get("REDIS_PORT", str(REDIS_PORT)),
    }


@pytest.fixture(scope="session")
def services(request: pytest.FixtureRequest) -> None:
    """Kafka and Redis where ``SELLERWATCH_BOOTSTRAP``/``SELLERWATCH_REDIS_URL`` say (9092 and
    6379 by default), started by the deploy script when needed."""
    if _listening(KAFKA_PORT) and _listening(REDIS_PORT):
        return
    message = (
        f"no Kafka on localhost:{KAFKA_PORT} or no Redis on localhost:{REDIS_PORT}: "
        "starting them with deploy/local/up.sh (the first start fetches Kafka: minutes)"
    )
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(message, yellow=True)
    result = subprocess.run(
        ["bash", str(ROOT / "deploy" / "local" / "up.sh")],
        capture_output=True,
        text=True,
        timeout=600,
        env=deploy_env(),
    )
    if result.returncode != 0 or not _listening(KAFKA_PORT):
        pytest.fail(f"deploy/local/up.sh failed:\n{result.stdout}\n{result.stderr}")


@pytest.fixture(scope="session")
def used_prefixes(services: None, request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """The topic prefixes this session wrote under on the shared broker; their topics are
    deleted at the end (after every test's workers have stopped). A clean-up that fails is
    reported, not a failure: the tests' results stand."""
    used: list[str] = []
    yield used
    try:
        asyncio.run(delete_prefixed(used, BOOTSTRAP))
    except Exception as exc:  # noqa: BLE001 - any failure of the clean-up is only reported
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"could not delete this session's test topics ({type(exc).__name__}: {exc}); "
                "deploy/local/down.sh --wipe starts an empty broker",
                yellow=True,
            )


@pytest.fixture
def new_prefix(used_prefixes: list[str]) -> Callable[[str], str]:
    """Factory of fresh topic prefixes (``tag`` + 8 hex digits + ``.``), cleaned up at the end."""

    def make(tag: str = "it") -> str:
        made = f"{tag}{uuid.uuid4().hex[:8]}."
        used_prefixes.append(made)
        return made

    return make


@pytest.fixture
def prefix(new_prefix: Callable[[str], str]) -> str:
    """A fresh topic prefix: this test's own topics."""
    return new_prefix("it")


def run_cli(*args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the ``sellerwatch`` command line (``env``: extra variables), failing loudly."""
    result = subprocess.run(
        ["sellerwatch", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, f"sellerwatch {' '.join(args)}:\n{result.stderr}"
    return result


class Worker:
    """One ``sellerwatch worker`` process."""

    def __init__(self, prefix: str, instance: str, port: int, log_path: Path, **env: str) -> None:
        self.prefix, self.instance, self.port, self.log_path = prefix, instance, port, log_path
        self.env = {
            **os.environ,
            "SELLERWATCH_INSTANCE": instance,
            "SELLERWATCH_IDLE_TIMEOUT_MS": "2000",
            "SELLERWATCH_SNAPSHOT_INTERVAL_S": "1",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        with self.log_path.open("ab") as log:
            self.process = self._spawn(log)
        return self

    def _spawn(self, log: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                "sellerwatch",
                "worker",
                "--topic-prefix",
                self.prefix,
                "--web-port",
                str(self.port),
                "--loglevel",
                "warning",
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )

    def stats(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats/", timeout=2) as r:  # noqa: S310
                return orjson.loads(r.read())
        except OSError:
            return None

    def kill9(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Factory of worker processes, all stopped at the end of the test."""
    started: list[Worker] = []
    ports = iter(range(16100 + os.getpid() % 500 * 8, 16100 + os.getpid() % 500 * 8 + 8))

    def make(prefix: str, instance: str = "a", **env: str) -> Worker:
        worker = Worker(prefix, instance, next(ports), tmp_path / f"worker-{instance}.log", **env)
        started.append(worker.start())
        return worker

    yield make
    for worker in started:
        worker.stop()


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll until ``predicate`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def read_topics(
    topics: list[str], bootstrap: str = BOOTSTRAP
) -> list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]]:
    """Every committed record of ``topics`` (``read_committed``): (topic, key, value, headers)."""

    async def read() -> list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False
        )
        await consumer.start()
        try:
            metadata = await consumer._client.fetch_all_metadata()  # noqa: SLF001
            tps = [
                TopicPartition(t, p)
                for t in topics
                for p in (metadata.partitions_for_topic(t) or ())
            ]
            if not tps:
                return []
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            out = []
            while True:
                positions = [await consumer.position(tp) for tp in tps]
                if all(pos >= ends[tp] for pos, tp in zip(positions, tps, strict=True)):
                    return out
                batch = await consumer.getmany(timeout_ms=500)
                for tp, records in batch.items():
                    out += [(tp.topic, r.key, r.value, list(r.headers)) for r in records]
        finally:
            await consumer.stop()

    return asyncio.run(read())


def read_verdicts(prefix: str, bootstrap: str = BOOTSTRAP) -> list[bytes]:
    """The committed verdict records of a prefix, as JSON bytes."""
    topics = [prefix + t for t in VERDICT_TOPICS]
    return [value for _, _, value, _ in read_topics(topics, bootstrap)]


@pytest.fixture(scope="module")
def seed() -> int:
    """The fault proxy's seed: ``SELLERWATCH_FAULT_SEED``, or a random one (failures name it)."""
    return int(os.environ.get("SELLERWATCH_FAULT_SEED") or random.randrange(1 << 30))  # noqa: S311


@pytest.fixture(scope="module")
def faulty_broker(
    tmp_path_factory: pytest.TempPathFactory, services: None, seed: int
) -> Iterator[tuple[OwnBroker, ProxyThread]]:
    """A broker of this module's own, reachable by the worker only through the proxy."""
    broker = OwnBroker(tmp_path_factory.mktemp("faulty-broker"), advertised_port=0)
    proxy = ProxyThread(broker.client_port, seed)
    proxy.set_faulting(False)
    broker.advertised_port = proxy.start()
    try:
        broker.start()
        yield broker, proxy
    finally:
        broker.stop()
        proxy.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: bash scripts/setup.sh installs it")
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_broker(tmp_path: Path, services: None) -> Iterator[OwnBroker]:
    """A broker of this test's own, for a test that restarts it: the shared one holds every
    earlier test's topics by then, and restarting it costs minutes and every other test's
    broker."""
    broker = OwnBroker(tmp_path / "own-broker")
    broker.folder.mkdir()
    try:
        yield broker.start()
    finally:
        broker.stop()


def read_model_hashes(prefix: str, url: str = REDIS_URL) -> dict[bytes, dict[bytes, bytes]]:
    """Every item's and shop's hash the read model holds for ``prefix``."""
    client = redis.Redis.from_url(url)
    keys = [
        key
        for kind in ("item", "shop")
        for key in client.scan_iter(match=f"sellerwatch:{prefix}:{kind}:*", count=1000)
    ]
    return {key: client.hgetall(key) for key in keys}  # type: ignore[misc]


def duplicates_of(path: Path, count: int = 20) -> Path:
    """A file of the first ``count`` records of ``path``: produced again, each is a duplicate,
    so the engine commits transactions (and can send a snapshot) without a new verdict."""
    again = path.with_suffix(".again.jsonl")
    again.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:count]))
    return again


def wait_for_a_snapshot_with_redis_written(worker: Worker, prefix: str, path: Path) -> None:
    """Produce duplicates until ``worker`` (the engine owner) has committed a snapshot and
    Redis holds everything it submitted."""
    again = duplicates_of(path)

    def committed() -> bool:
        run_cli("produce", "--topic-prefix", prefix, str(again))
        stats = worker.stats() or {}
        return stats["snapshots_committed"] > 0 and stats["read_model"]["keys_waiting"] == 0

    wait_for(committed, 90, "a snapshot with Redis written")


def read_model_settled(worker: Worker) -> bool:
    """Whether ``worker``'s read model has nothing waiting and no gap."""
    model = (worker.stats() or {}).get("read_model") or {}
    return model.get("keys_waiting") == 0 and model.get("missing") is None


def assert_read_model_is_the_topics(prefix: str, redis_url: str, **env: str) -> None:
    """With every worker stopped: the read model in ``redis_url`` is, field for field, what
    ``rebuild-read-model`` writes from the verdict and metrics topics."""
    written = read_model_hashes(prefix, redis_url)
    redis.Redis.from_url(redis_url).flushall()
    rebuilt = run_when_stopped("rebuild-read-model", "--topic-prefix", prefix, **env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert written == read_model_hashes(prefix, redis_url)


def reset_when_stopped(prefix: str, seconds: float = 60) -> subprocess.CompletedProcess[str]:
    """``sellerwatch reset``, retried while a killed member's session runs out (until then it
    refuses, naming the group)."""
    return run_when_stopped("reset", "--topic-prefix", prefix, seconds=seconds)


def run_when_stopped(
    *args: str, seconds: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    """A command that refuses while a worker is in the engine groups (``reset``,
    ``rebuild-read-model``), retried while a stopped or killed member's session runs out."""
    deadline = time.monotonic() + seconds
    while True:
        result = subprocess.run(
            ["sellerwatch", *args],
            capture_output=True,
            text=True,
            timeout=150,
            cwd=ROOT,
            env={**os.environ, **env},
        )
        if result.returncode == 0 or time.monotonic() > deadline:
            return result
        assert "stop every worker" in result.stderr, result.stderr
        time.sleep(2)

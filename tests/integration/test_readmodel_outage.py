"""The Redis read model against a real ``redis-server`` that goes away: stopped, and hung.

Nothing the worker committed meanwhile is missing once Redis answers again, and a Redis that
stops answering fails a write within the call deadline instead of holding it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis

from sellerwatch.agents.readmodel import CALL_TIMEOUT_S, ReadModel, item_key
from sellerwatch.schemas.verdict import Evaluation
from tests.integration.ports import free_ports

pytestmark = pytest.mark.integration


class OwnRedis:
    """A ``redis-server`` of the test's own, without persistence, restartable on its port."""

    def __init__(self, folder: Path) -> None:
        (self.port,) = free_ports(1)
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis.from_url(self.url, socket_timeout=1).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def read(self, item: str) -> int | None:
        """The numerator of the item's ``pickup48`` figures, as Redis holds them."""
        raw = redis.Redis.from_url(self.url).hget(item_key("p.", item), "figures:pickup48")
        return None if raw is None else orjson.loads(raw)["numerator"]  # type: ignore[arg-type]


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: bash scripts/setup.sh installs it")
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def _figures(item: str, numerator: int) -> Evaluation:
    return Evaluation("pickup48", item, "2024-06-04", 1717430400000, numerator, 10, None)


def test_updates_while_redis_is_stopped_are_written_when_it_is_back(own_redis: OwnRedis) -> None:
    async def run() -> None:
        model = ReadModel(own_redis.url, "p.", retry_first_s=0.1, retry_max_s=0.5)
        model.submit([], [_figures("I1", 1)])
        assert await model.flushed(10)
        own_redis.stop()
        model.submit([], [_figures("I1", 2), _figures("I2", 7)])
        await asyncio.sleep(1)  # a few failed attempts
        assert model.failed_writes >= 1 and model.keys_waiting == 2
        own_redis.start()  # empty: no persistence
        assert await model.flushed(10)
        await model.close()

    asyncio.run(run())
    assert own_redis.read("I1") == 2 and own_redis.read("I2") == 7


def test_a_hung_redis_fails_a_write_within_the_call_deadline_not_forever(
    own_redis: OwnRedis,
) -> None:
    async def run() -> None:
        model = ReadModel(own_redis.url, "p.", retry_first_s=0.1, retry_max_s=0.5)
        model.submit([], [_figures("I1", 1)])
        assert await model.flushed(10)
        assert own_redis.process is not None
        os.killpg(own_redis.process.pid, signal.SIGSTOP)  # accepts nothing, answers nothing
        try:
            model.submit([], [_figures("I1", 3)])
            started = time.monotonic()
            while model.failed_writes == 0:
                assert time.monotonic() - started < CALL_TIMEOUT_S + 5, "the write hung"
                await asyncio.sleep(0.1)
        finally:
            os.killpg(own_redis.process.pid, signal.SIGCONT)
        assert await model.flushed(CALL_TIMEOUT_S * 3)
        await model.close()

    asyncio.run(run())
    assert own_redis.read("I1") == 3

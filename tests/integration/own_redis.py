"""A ``redis-server`` of a test's own: stopped, hung or emptied without touching the shared one."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import orjson
import redis

from sellerwatch.agents.readmodel import item_key
from tests.integration.ports import free_ports


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

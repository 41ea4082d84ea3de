"""The engine's state topic on the real broker: a stranger's record runs nothing, a snapshot of
another policy is refused with the way out, and ``sellerwatch reset`` rebuilds from the inputs."""

from __future__ import annotations

import asyncio
import os
import pickle
import subprocess
import zlib
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from tests.integration.conftest import (
    BOOTSTRAP,
    Worker,
    read_verdicts,
    reset_when_stopped,
    run_cli,
    wait_for,
)
from tests.integration.workload import make_workload

pytestmark = pytest.mark.integration
L_MS = 5 * 60_000
ROOT = Path(__file__).resolve().parents[2]


class _Boom:
    """A pickle that runs a command when loaded: what an attacker would write."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def _put_state(prefix: str, records: list[tuple[bytes, bytes]]) -> None:
    async def put() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP)
        await producer.start()
        try:
            for key, value in records:
                await producer.send_and_wait(f"{prefix}sellerwatch.engine-state", value, key=key)
        finally:
            await producer.stop()

    asyncio.run(put())


def _exited(worker: Worker, timeout: float) -> int:
    assert worker.process is not None
    try:
        return worker.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"the worker did not exit within {timeout:.0f}s:\n{worker.log_path.read_text()[-3000:]}"
        ) from None


def test_a_pickle_written_into_the_state_topic_runs_nothing(
    prefix: str, workers, tmp_path: Path
) -> None:
    run_cli("topics", "--topic-prefix", prefix)
    marker = tmp_path / "owned"
    blob = zlib.compress(pickle.dumps({"state": _Boom(marker)}))
    manifest = orjson.dumps({"snapshot_id": 1, "chunks": 1, "log_offset": 0})
    _put_state(prefix, [(b"chunk-0", b"1:" + blob), (b"manifest", manifest)])
    worker = workers(prefix, "a")
    assert _exited(worker, 90) == 2
    log = worker.log_path.read_text()
    assert f"sellerwatch reset --topic-prefix {prefix}" in log, log[-3000:]
    assert "Traceback" not in log
    assert not marker.exists()


def _done(worker: Worker, records: int, tick_ts: int) -> bool:
    stats = worker.stats()
    return bool(
        stats
        and stats["engine_active"]
        and stats["accounting"]
        and stats["accounting"]["in"] >= records
        and stats["watermark"] is not None
        and stats["watermark"] >= tick_ts - L_MS
    )


def test_a_new_policy_is_refused_over_an_old_snapshot_until_reset(
    prefix: str, workers, tmp_path: Path
) -> None:
    # long enough that the first worker commits a snapshot before it has read everything
    path = make_workload(tmp_path / "events.jsonl", 5, "--profile", "medium")
    lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    tick_ts = orjson.loads(lines[-1])["ts"]
    strict = tmp_path / "strict.toml"
    strict.write_text('name = "strict"\n[ship48_pickup24]\nmin_orders = 10\n')
    run_cli("produce", "--topic-prefix", prefix, str(path))

    first = workers(prefix, "a")
    wait_for(
        lambda: (first.stats() or {}).get("snapshots_committed", 0) >= 1, 240, "a first snapshot"
    )
    first.stop()

    refused = workers(prefix, "b", SELLERWATCH_POLICY=str(strict))
    assert _exited(refused, 90) == 2
    log = refused.log_path.read_text()
    assert "'strict'" in log and f"sellerwatch reset --topic-prefix {prefix}" in log, log[-3000:]

    # A member that exited without leaving the group is dropped after the session timeout;
    # until then reset refuses, naming the group.
    result = reset_when_stopped(prefix)
    assert result.returncode == 0, result.stderr
    assert "rebuilds the state from the input topics" in result.stderr

    rebuilt = workers(prefix, "c", SELLERWATCH_POLICY=str(strict))
    wait_for(lambda: _done(rebuilt, len(lines), tick_ts), 300, "the rebuilt worker")
    out = tmp_path / "strict-replay.jsonl"
    run_cli("replay", "--policy", str(strict), "--out", str(out), str(path))
    expected = sorted(out.read_bytes().splitlines())
    got = sorted(v for v in read_verdicts(prefix) if orjson.loads(v)["policy"] == "strict")
    assert got == expected

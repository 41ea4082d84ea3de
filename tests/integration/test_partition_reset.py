"""A partition worker's state is the policy's too: under another policy its snapshot is
refused with the way out, and ``sellerwatch reset`` clears the partition workers' topics and
group, so the coordinator and the partitions rebuild from the inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.integration.conftest import read_verdicts, reset_when_stopped, run_cli, wait_for
from tests.integration.test_partition_workers import _as, _done
from tests.integration.workload import make_workload

pytestmark = pytest.mark.integration


def test_another_policy_is_refused_by_a_partition_until_reset(
    prefix: str, workers: Any, tmp_path: Path
) -> None:
    path = make_workload(tmp_path / "events.jsonl")
    strict = tmp_path / "strict.toml"
    strict.write_text('name = "strict"\n[ship48_pickup24]\nmin_orders = 10\n')
    run_cli("produce", "--topic-prefix", prefix, str(path))
    coordinator = workers(prefix, "coordinator", **_as("coordinator"))
    held = workers(prefix, "p", **_as("partitions"))
    wait_for(lambda: _done(coordinator, path), 240, "the coordinator")
    wait_for(lambda: (held.stats() or {}).get("snapshots_committed", 0) > 0, 60, "a snapshot")
    coordinator.stop()
    held.stop()

    refused = workers(prefix, "q", **_as("partitions", SELLERWATCH_POLICY=str(strict)))
    assert refused.process is not None and refused.process.wait(timeout=90) == 2
    log = refused.log_path.read_text()
    assert "cannot restore state partition" in log and "sellerwatch reset" in log, log[-3000:]

    result = reset_when_stopped(prefix)
    assert result.returncode == 0, result.stderr
    assert "sellerwatch.partition-state" in result.stderr

    strictly = _as("coordinator", SELLERWATCH_POLICY=str(strict))
    rebuilt = workers(prefix, "coordinator2", **strictly)
    fresh = workers(prefix, "r", **_as("partitions", SELLERWATCH_POLICY=str(strict)))
    wait_for(lambda: _done(rebuilt, path), 240, "the rebuilt coordinator")
    assert set((fresh.stats() or {})["restored_from_snapshot"].values()) == {None}
    out = tmp_path / "strict-replay.jsonl"
    run_cli("replay", "--policy", str(strict), "--out", str(out), str(path))
    got = sorted(v for v in read_verdicts(prefix) if orjson.loads(v)["policy"] == "strict")
    assert got == sorted(out.read_bytes().splitlines())

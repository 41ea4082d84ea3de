"""Scale-out on the real broker: a coordinator and partition workers, each holding only the
state partitions assigned to it, give the replay's verdicts — with 1, 2 or 3 workers, and with
workers added, stopped (SIGTERM) and killed (-9) mid-stream, the coordinator killed too, and
the broker restarted under them: every verdict, evidence record and warning exactly once
(``read_committed``); and the coordinator's Redis read model read back after Redis lost it."""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from sellerwatch.cli import main
from sellerwatch.schemas.evidence import Evidence, decode_evidence, join
from sellerwatch.schemas.verdict import encode
from tests.integration.conftest import (
    BOOTSTRAP,
    Worker,
    assert_read_model_is_the_topics,
    read_model_settled,
    read_topics,
    read_verdicts,
    run_cli,
    wait_for,
    wait_for_a_snapshot_with_redis_written,
)
from tests.integration.own_broker import OwnBroker
from tests.integration.own_redis import OwnRedis
from tests.integration.workload import make_workload, records_in, replay_verdicts, tick_ts

pytestmark = pytest.mark.integration
L_MS = 5 * 60_000
STATE_PARTITIONS = 4


def _as(role: str, **env: str) -> dict[str, str]:
    return {"SELLERWATCH_ROLE": role, "SELLERWATCH_PARTITIONS": str(STATE_PARTITIONS), **env}


def _done(coordinator: Worker, path: Path) -> bool:
    stats = coordinator.stats() or {}
    books, watermark = stats.get("accounting"), stats.get("watermark")
    return bool(
        stats.get("engine_active")
        and stats.get("waiting_for") is None  # every instant due has its answers
        and books
        and books["in"] >= records_in(path)
        and watermark is not None
        and watermark >= tick_ts(path) - L_MS
    )


def _held(worker: Worker) -> list[int]:
    return list((worker.stats() or {}).get("state_partitions") or [])


def _exactly_once(prefix: str, expected: list[bytes], bootstrap: str = BOOTSTRAP) -> None:
    got = read_verdicts(prefix, bootstrap)
    ids = Counter(orjson.loads(v)["verdict_id"] for v in got)
    assert [i for i, n in ids.items() if n > 1] == []
    assert sorted(got) == sorted(expected)


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes]]:
    folder = tmp_path_factory.mktemp("workload")
    path = make_workload(folder / "events.jsonl")
    return path, replay_verdicts(path, folder / "replay.jsonl")


@pytest.fixture(scope="module")
def big_workload(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes]]:
    """~310k events over ~6 weeks: long enough for workers to come and go in the middle."""
    folder = tmp_path_factory.mktemp("big")
    path = make_workload(folder / "events.jsonl", 5, "--profile", "medium")
    return path, replay_verdicts(path, folder / "replay.jsonl")


@pytest.mark.parametrize("count", [1, 2, 3])
def test_partition_workers_give_the_replays_verdicts(
    workload: tuple[Path, list[bytes]], prefix: str, workers: Any, count: int
) -> None:
    path, expected = workload
    run_cli("produce", "--topic-prefix", prefix, str(path))
    coordinator = workers(prefix, "coordinator", **_as("coordinator"))
    held = [workers(prefix, f"p{i}", **_as("partitions")) for i in range(count)]
    wait_for(lambda: _done(coordinator, path), 240, "the coordinator")
    _exactly_once(prefix, expected)
    # The read model has an item's latest verdict whichever worker holds the item: the
    # coordinator writes it, from the verdicts it publishes.
    last = next(v for v in map(orjson.loads, reversed(expected)) if v["item_id"])
    wait_for(
        lambda: (
            last["verdict_id"]
            in run_cli("status", "--topic-prefix", prefix, last["item_id"]).stdout
        ),
        30,
        "the read model",
    )

    def split() -> bool:  # each state partition held by exactly one worker
        return sorted(p for worker in held for p in _held(worker)) == list(range(4))

    wait_for(split, 60, "every state partition held once")
    stats = [worker.stats() or {} for worker in held]
    assert all(s["role"] == "partitions" and s["open_orders"] > 0 for s in stats)
    if count > 1:  # no worker holds everything
        assert all(len(s["state_partitions"]) < STATE_PARTITIONS for s in stats)
    top = coordinator.stats() or {}
    assert top["role"] == "coordinator" and top["state_partitions"] == STATE_PARTITIONS
    assert top["accounting"]["applied"] == records_in(path)
    # each worker shows its share: every payment was applied by exactly one partition
    taken = [counts for s in stats for counts in s["records_taken"].values()]
    assert len(taken) == STATE_PARTITIONS
    payments = sum(
        orjson.loads(line)["type"] == "payment" for line in path.read_bytes().splitlines()
    )
    assert sum(counts.get("payment", 0) for counts in taken) == payments


def test_workers_come_and_go_mid_stream_and_each_output_is_committed_once(
    big_workload: tuple[Path, list[bytes]], prefix: str, workers: Any
) -> None:
    """Added, SIGTERM, kill -9 — of partition workers and of the coordinator."""
    path, expected = big_workload
    run_cli("produce", "--topic-prefix", prefix, str(path))
    on = {"SELLERWATCH_EVIDENCE": "1", "SELLERWATCH_WARNINGS": "1"}
    coordinator = workers(prefix, "coordinator", **_as("coordinator", **on))
    first, second = (workers(prefix, name, **_as("partitions", **on)) for name in ("a", "b"))

    def snapshots_and_verdicts() -> bool:
        top = coordinator.stats() or {}
        held = [w.stats() or {} for w in (first, second)]
        return top.get("verdicts_committed", 0) > 0 and all(
            s.get("snapshots_committed", 0) > 0 for s in held if s.get("state_partitions")
        )

    wait_for(snapshots_and_verdicts, 240, "verdicts and the partitions' snapshots")
    added = workers(prefix, "c", **_as("partitions", **on))
    wait_for(lambda: bool(_held(added)), 90, "the added worker to take partitions over")
    assert 0 < len(read_verdicts(prefix)) < len(expected), "mid-stream"
    first.kill9()
    assert second.process is not None
    os.killpg(second.process.pid, signal.SIGTERM)
    assert second.process.wait(timeout=30) is not None  # no SIGKILL needed
    wait_for(lambda: coordinator.stats() is not None, 10, "the coordinator")
    coordinator.kill9()
    assert len(read_verdicts(prefix)) < len(expected), "still mid-stream"
    workers(prefix, "d", **_as("partitions", **on))
    restarted = workers(prefix, "coordinator", **_as("coordinator", **on))
    wait_for(lambda: _done(restarted, path), 300, "the restarted coordinator")
    assert (restarted.stats() or {})["restored_from_snapshot"] is not None
    _exactly_once(prefix, expected)
    parts: dict[str, list[Evidence]] = {}
    for _, _, value, _ in read_topics([f"{prefix}sellerwatch.evidence"]):
        record = decode_evidence(value)
        parts.setdefault(record.verdict_id, []).append(record)
    evidence = [encode(join(p)) for p in parts.values()]
    replayed, warned = path.with_suffix(".evidence.jsonl"), path.with_suffix(".warnings.jsonl")
    argv = ["replay", str(path), "--out", os.devnull, "--evidence", str(replayed)]
    assert main([*argv, "--warnings", str(warned)]) == 0
    assert sorted(evidence) == sorted(replayed.read_bytes().splitlines())
    warnings = [value for _, _, value, _ in read_topics([f"{prefix}sellerwatch.warnings"])]
    assert warnings and sorted(warnings) == sorted(warned.read_bytes().splitlines())


def test_a_broker_restart_under_a_coordinator_and_partition_workers_loses_nothing(
    own_broker: OwnBroker, big_workload: tuple[Path, list[bytes]], prefix: str, workers: Any
) -> None:
    """(``own_broker`` first: set up before the workers, it is stopped after them.)"""
    path, expected = big_workload
    on = {"SELLERWATCH_BOOTSTRAP": own_broker.bootstrap}
    run_cli(
        "produce", "--topic-prefix", prefix, str(path), SELLERWATCH_BOOTSTRAP=own_broker.bootstrap
    )
    coordinator = workers(prefix, "coordinator", **_as("coordinator", **on))
    held = [workers(prefix, name, **_as("partitions", **on)) for name in ("a", "b")]
    total = records_in(path)
    wait_for(
        lambda: (coordinator.stats() or {}).get("engine_records", 0) > total * 0.2, 240, "progress"
    )
    own_broker.restart()  # SIGTERM, 2 s down, the same data and ports again
    wait_for(lambda: _done(coordinator, path), 300, "the coordinator")
    for worker in (coordinator, *held):  # each rode the restart out
        assert worker.process is not None and worker.process.poll() is None
    _exactly_once(prefix, expected, own_broker.bootstrap)


def test_a_coordinator_restarted_beside_an_emptied_redis_reads_the_read_model_back(
    workload: tuple[Path, list[bytes]], prefix: str, workers: Any, own_redis: OwnRedis
) -> None:
    """The coordinator writes the read model: killed after Redis lost its data (a restart
    without persistence), its restart from a snapshot finds the gap and fills it from the
    verdict and metrics topics, as ``rebuild-read-model`` would."""
    path, _ = workload
    run_cli("produce", "--topic-prefix", prefix, str(path))
    env = {"SELLERWATCH_REDIS_URL": own_redis.url}
    coordinator = workers(prefix, "coordinator", **_as("coordinator", **env))
    partition = workers(prefix, "p0", **_as("partitions", **env))
    wait_for(lambda: _done(coordinator, path), 240, "the coordinator")
    wait_for_a_snapshot_with_redis_written(coordinator, prefix, path)
    own_redis.stop()
    own_redis.start()  # empty: no persistence
    coordinator.kill9()
    restarted = workers(prefix, "coordinator", **_as("coordinator", **env))

    wait_for(
        lambda: _done(restarted, path) and read_model_settled(restarted),
        180,
        "the restarted coordinator",
    )
    assert (restarted.stats() or {})["restored_from_snapshot"] is not None
    assert "read back" in restarted.log_path.read_text()
    restarted.stop()
    partition.stop()
    assert_read_model_is_the_topics(prefix, own_redis.url, **env)

"""Watermark alignment on the real broker: with a tight ``SELLERWATCH_MAX_WAITING_EVENTS`` the
engine owner (one engine, or a coordinator of partition workers) pauses the input partitions
ahead of W for most of a catch-up — and still gives the replay's verdicts, with no record late
and nothing stuck."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.conftest import Worker, read_verdicts, run_cli
from tests.integration.workload import make_workload, records_in, replay_verdicts, tick_ts

pytestmark = pytest.mark.integration
L_MS = 5 * 60_000
TIGHT = {"SELLERWATCH_MAX_WAITING_EVENTS": "500"}


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes]]:
    folder = tmp_path_factory.mktemp("workload")
    path = make_workload(folder / "events.jsonl")
    return path, replay_verdicts(path, folder / "replay.jsonl")


def _catch_up(owner: Worker, path: Path, seconds: float = 240) -> tuple[int, int]:
    """Wait until the owner applied every record and W reached the last tick; the most input
    partitions it held back and records it kept waiting, sampled meanwhile."""
    most_held, most_waiting = 0, 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        stats = owner.stats() or {}
        most_held = max(most_held, stats.get("held_back") or 0)
        most_waiting = max(most_waiting, stats.get("waiting_events") or 0)
        books, watermark = stats.get("accounting"), stats.get("watermark")
        if (
            stats.get("engine_active")
            and stats.get("waiting_for") is None
            and books
            and books["in"] >= records_in(path)
            and watermark is not None
            and watermark >= tick_ts(path) - L_MS
        ):
            assert books["late"] == 0
            return most_held, most_waiting
        time.sleep(0.05)
    pytest.fail(f"the owner did not catch up in {seconds}s: {owner.stats()}")


@pytest.mark.parametrize("role", ["engine", "coordinator"])
def test_a_tight_bound_pauses_the_partitions_ahead_and_changes_no_verdict(
    workload: tuple[Path, list[bytes]], prefix: str, workers, role: str
) -> None:
    path, expected = workload
    run_cli("produce", "--topic-prefix", prefix, str(path))
    scale = {"SELLERWATCH_ROLE": role, "SELLERWATCH_PARTITIONS": "2"}
    owner = workers(prefix, "owner", **scale, **TIGHT)
    if role == "coordinator":
        workers(prefix, "p1", **{**scale, "SELLERWATCH_ROLE": "partitions"})
    most_held, _ = _catch_up(owner, path)
    assert most_held > 0  # the bound was reached: partitions ahead of W were paused
    assert sorted(read_verdicts(prefix)) == sorted(expected)

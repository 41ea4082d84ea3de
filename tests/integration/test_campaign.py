"""Campaign breaches (SPEC §4.6) on the real broker: backtest and a live worker equal the replay."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.integration.conftest import read_topics, run_cli, wait_for
from tests.integration.workload import make_workload

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "examples" / "policies" / "618-2022.toml"
L_MS = 5 * 60_000


def test_backtest_and_a_live_worker_give_the_replays_breaches(
    prefix: str, workers, tmp_path: Path
) -> None:
    path = make_workload(
        tmp_path / "events.jsonl", 1, "--start", "2022-05-28", "--campaign", str(POLICY)
    )
    replayed = tmp_path / "replay.jsonl"
    run_cli("replay", "--policy", str(POLICY), "--out", str(replayed), str(path))
    expected = sorted(replayed.read_bytes().splitlines())
    breaches = sorted(v for v in expected if orjson.loads(v)["kind"] == "breach")
    reasons = {orjson.loads(v)["details"]["reason"] for v in breaches}
    assert reasons == {"not_shipped_in_time", "no_pickup_in_time", "no_update_in_time"}

    run_cli("produce", "--topic-prefix", prefix, str(path))
    out = tmp_path / "backtest.jsonl"
    run_cli("backtest", "--topic-prefix", prefix, "--policy", str(POLICY), "--out", str(out))
    assert sorted(out.read_bytes().splitlines()) == expected

    lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    tick_ts = orjson.loads(lines[-1])["ts"]
    worker = workers(prefix, "a", SELLERWATCH_POLICY=str(POLICY))

    def done() -> bool:
        stats = worker.stats() or {}
        accounting = stats.get("accounting") or {}
        watermark = stats.get("watermark")
        return (
            accounting.get("in", 0) >= len(lines)
            and watermark is not None
            and watermark >= tick_ts - L_MS
        )

    wait_for(done, 240, "the engine")
    topic = f"{prefix}verdicts.breach"
    records = read_topics([topic])
    assert sorted(value for _, _, value, _ in records) == breaches
    assert all(
        key == orjson.loads(value)["details"]["order_id"].encode() for _, key, value, _ in records
    )

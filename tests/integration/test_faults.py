"""Network faults between the worker and the broker: cut and stalled connections, at random.

The worker reaches its own broker only through :class:`tests.integration.tcp_proxy.FaultyProxy`
(the broker advertises the proxy's port), which for ``FAULT_S`` seconds cuts and stalls
connections at random points, inside transactions and snapshots (one every second). The test
plays the supervisor: a worker that gives up must exit 1 and is started again. Whatever
happened, the committed verdicts are exactly the replay's, each once, and the books balance.
Seeded by ``SELLERWATCH_FAULT_SEED`` (random by default; the seed is in every failure message;
the broker and the proxy are the ``faulty_broker`` fixture of ``conftest``).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.integration.conftest import Worker, read_verdicts, run_cli
from tests.integration.own_broker import OwnBroker
from tests.integration.tcp_proxy import ProxyThread
from tests.integration.test_worker import _engine_done
from tests.integration.workload import make_workload, records_in, replay_verdicts, tick_ts

pytestmark = pytest.mark.integration
#: Seconds of faults: long enough to hit transactions, snapshots and take-overs many times.
FAULT_S = 50.0
#: Seconds the whole run may take, faults included.
RUN_S = 240.0
#: A step this late is a stall: shorter than the proxy's longest stall (8 s), so both happen.
STEP_TIMEOUT_S = "4"


def _rebuilt(folder: Path) -> bool:
    """Whether a worker logged a rebuild (a deadline or an error met by the engine)."""
    logs = "".join(p.read_text(errors="replace") for p in folder.glob("worker-*.log"))
    return "rebuilding from committed state" in logs


def test_cut_and_stalled_connections_change_no_verdict_and_double_none(
    faulty_broker: tuple[OwnBroker, ProxyThread],
    workers: Callable[..., Worker],
    tmp_path: Path,
    seed: int,
) -> None:
    broker, proxy = faulty_broker
    path = make_workload(tmp_path / "events.jsonl", 23, "--orders-per-day", "1500")
    expected = replay_verdicts(path, tmp_path / "replay.jsonl")
    total, closing = records_in(path), tick_ts(path)
    prefix = f"ft{uuid.uuid4().hex[:8]}."
    direct = broker.direct_bootstrap
    run_cli("produce", "--topic-prefix", prefix, str(path), SELLERWATCH_BOOTSTRAP=direct)
    env = {
        "SELLERWATCH_BOOTSTRAP": f"localhost:{proxy.proxy.port}",
        "SELLERWATCH_REDIS_URL": "",
        "SELLERWATCH_KAFKA_STEP_TIMEOUT_S": STEP_TIMEOUT_S,
        "SELLERWATCH_SNAPSHOT_INTERVAL_S": "1",
    }
    where = f"(seed {seed}; worker logs in {tmp_path})"
    proxy.set_faulting(True)
    started = time.monotonic()
    worker = workers(prefix, "a", **env)
    exits: list[int] = []
    faulting, partitioned_at = True, 0.0
    while not _engine_done([worker], total, closing):
        elapsed = time.monotonic() - started
        assert elapsed < RUN_S, f"the engine did not finish in {RUN_S:.0f}s {where}"
        if faulting and elapsed > FAULT_S:
            proxy.set_faulting(False)
            faulting = False
        if (
            faulting
            and time.monotonic() > partitioned_at + 10
            and not _rebuilt(tmp_path)
            and (worker.stats() or {}).get("verdicts_committed", 0) > 0
        ):
            # beside the random faults, a stall of every connection past the step deadline,
            # mid-stream, every 10 s until the engine has met one (it may be between steps)
            proxy.stall_all(float(STEP_TIMEOUT_S) * 2)
            partitioned_at = time.monotonic()
        assert worker.process is not None
        code = worker.process.poll()
        if code is not None:  # it gave up: the supervisor starts it again
            exits.append(code)
            assert len(exits) <= 4, f"the worker keeps exiting: {exits} {where}"
            worker = workers(prefix, "a", **env)
        time.sleep(0.5)
    proxy.set_faulting(False)
    faults = proxy.counts()

    assert set(exits) <= {1}, f"a worker exited with {exits} {where}"
    assert faults["cuts"] + faults["stalls"] + faults["cuts_mid_write"] >= 5, f"{faults} {where}"
    assert _rebuilt(tmp_path), f"no fault reached the engine {where}"
    got = read_verdicts(prefix, direct)
    ids = Counter(orjson.loads(v)["verdict_id"] for v in got)
    assert [i for i, n in ids.items() if n > 1] == [], f"duplicates {where}"
    assert sorted(got) == sorted(expected), f"verdicts differ from the replay {where}"
    stats = worker.stats()
    assert stats is not None
    books = stats["accounting"]
    assert books["in"] == total and books["late"] == 0, where
    assert books["in"] == books["applied"] + books["duplicate"] + books["rejected"], where

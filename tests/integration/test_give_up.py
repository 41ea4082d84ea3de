"""A broker that is gone for good: the worker rebuilds a few times, then exits 1 with one line.

Its supervisor (Kubernetes, Compose, systemd) restarts it; a worker that waited forever would
never be restarted. The worker reaches its broker through the proxy, which then refuses every
connection while the engine has work to commit (an idle engine without a broker waits on
nothing: it does not fail, and a stand-by is healthy).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import Worker, run_cli, wait_for
from tests.integration.own_broker import OwnBroker
from tests.integration.tcp_proxy import ProxyThread
from tests.integration.workload import make_workload

pytestmark = pytest.mark.integration


def test_a_worker_whose_broker_stays_gone_exits_1_with_one_line(
    faulty_broker: tuple[OwnBroker, ProxyThread],
    workers: Callable[..., Worker],
    tmp_path: Path,
) -> None:
    broker, proxy = faulty_broker
    # long enough that the broker goes while the engine still has transactions to commit
    path = make_workload(tmp_path / "events.jsonl", 29, "--orders-per-day", "1500")
    prefix = f"gu{uuid.uuid4().hex[:8]}."
    run_cli(
        "produce",
        "--topic-prefix",
        prefix,
        str(path),
        SELLERWATCH_BOOTSTRAP=broker.direct_bootstrap,
    )
    worker = workers(
        prefix,
        "a",
        SELLERWATCH_BOOTSTRAP=f"localhost:{proxy.proxy.port}",
        SELLERWATCH_REDIS_URL="",
        SELLERWATCH_KAFKA_STEP_TIMEOUT_S="3",
        SELLERWATCH_STAGE_GIVE_UP_AFTER="3",
        SELLERWATCH_STAGE_GIVE_UP_S="1",
    )
    wait_for(lambda: (worker.stats() or {}).get("verdicts_committed", 0) > 0, 120, "progress")
    proxy.set_refusing(True)
    try:
        assert worker.process is not None
        started = time.monotonic()
        code = worker.process.wait(timeout=120)
        waited = time.monotonic() - started
    finally:
        proxy.set_refusing(False)
    log = worker.log_path.read_text(errors="replace")
    assert code == 1, log[-3000:]
    assert waited < 90
    rebuilds = [line for line in log.splitlines() if "rebuilding from committed state" in line]
    assert 1 <= len({line.split("] ", 3)[-1] for line in rebuilds}) <= 2 * 3
    assert "failures in a row without a committed transaction" in log
    assert "exiting with status 1 for the supervisor to restart" in log

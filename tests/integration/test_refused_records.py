"""A record the broker refuses never lets its transaction commit.

aiokafka 0.14 commits a transaction even when a batch in it failed (checked against Kafka
3.9: ``commit_transaction`` returns, every delivery future fails, nothing is committed), so
a verdict sent beside a refused record would be lost without a trace. The worker awaits
every delivery before it commits: here the evidence topic accepts no record as large as any
evidence, so no transaction with a verdict may commit. The worker logs the broker's reason and
rebuilds from committed state, again and again (transactions without a verdict still commit,
so it is not out of its budget): no verdict ever appears without its evidence.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.integration.conftest import (
    BOOTSTRAP,
    Worker,
    read_topics,
    read_verdicts,
    run_cli,
    wait_for,
)

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample.jsonl.gz"


async def _create_small_topic(name: str, max_bytes: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        config = {"max.message.bytes": str(max_bytes)}
        await admin.create_topics([NewTopic(name, 4, 1, topic_configs=config)])
    finally:
        await admin.close()


def test_a_refused_evidence_record_commits_no_verdict(
    new_prefix: Callable[[str], str], workers: Callable[..., Worker]
) -> None:
    prefix = new_prefix("rr")
    asyncio.run(_create_small_topic(f"{prefix}sellerwatch.evidence", 600))
    run_cli("produce", "--topic-prefix", prefix, str(SAMPLE))
    worker = workers(
        prefix,
        "a",
        SELLERWATCH_EVIDENCE="1",
        SELLERWATCH_REDIS_URL="",
    )

    def refused_three_times() -> bool:
        log = worker.log_path.read_text(errors="replace")
        return log.count("MessageSizeTooLargeError; rebuilding from committed state") >= 3

    wait_for(refused_three_times, 120, "three refused transactions")
    assert (worker.stats() or {}).get("verdicts_committed", 0) == 0
    assert read_verdicts(prefix) == []
    assert read_topics([f"{prefix}sellerwatch.evidence"]) == []

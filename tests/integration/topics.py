"""Deleting the topics a test session made, so the shared local broker does not pile them up.

Every integration test writes under its own prefix on the developer's (or CI's) long-lived
broker. Left behind, their partitions accumulate: twelve thousand of them made the broker take
three minutes to load its logs at start, past ``up.sh``'s patience, and CI failed before a test
ran.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]

CHUNK = 200  # topics per DeleteTopics request; the broker deletes them in the background


async def delete_prefixed(prefixes: Iterable[str], bootstrap: str, timeout_s: float = 60) -> int:
    """Delete every topic whose name starts with one of ``prefixes``; the count deleted."""
    wanted = tuple(prefixes)
    if not wanted:
        return 0
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        topics = await asyncio.wait_for(admin.list_topics(), timeout_s)
        mine = sorted(t for t in topics if t.startswith(wanted))
        for start in range(0, len(mine), CHUNK):
            await asyncio.wait_for(admin.delete_topics(mine[start : start + CHUNK]), timeout_s)
        return len(mine)
    finally:
        await admin.close()

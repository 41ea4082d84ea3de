"""The naive Faust design, as the peer: one agent per input topic, one event at a time.

    faust -A bench.faust_naive worker   (env BENCH_PREFIX, BENCH_BOOTSTRAP)

Each agent iterates its stream, decodes the record and hands it to one shared core engine. The
benchmark counts events/s; it is here to show the cost of Faust's per-message path.
"""

from __future__ import annotations

import os
import time
from typing import Any

import faust

from sellerwatch.streams.engine import Engine

PREFIX = os.environ.get("BENCH_PREFIX", "")
app = faust.App(
    f"{PREFIX}bench-naive",
    broker=f"kafka://{os.environ.get('BENCH_BOOTSTRAP', 'localhost:9092')}",
    store="memory://",
    web_enabled=False,
    topic_disable_leader=True,
)
engine = Engine()
stats: dict[str, Any] = {"count": 0, "first": None, "last": None}
topic = app.topic(
    *(
        f"{PREFIX}{t}"
        for t in ("payments", "shipments", "pickup-scans", "refunds", "seller-programs")
    ),
    value_serializer="raw",
)


@app.agent(topic)
async def naive(stream: Any) -> None:
    async for value in stream:
        engine.accept_raw(value, 0)
        now = time.perf_counter()
        if stats["first"] is None:
            stats["first"] = now
        stats["last"] = now
        stats["count"] += 1
        if stats["count"] % 10_000 == 0:
            rate = stats["count"] / (now - stats["first"])
            print(f"NAIVE {stats['count']} {rate:.0f}", flush=True)

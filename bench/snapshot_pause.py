"""How long a snapshot stops the engine: pickling in its process vs in a forked child.

    python -m bench.snapshot_pause [FILE ...]

Each FILE (default: the worker benchmark's events, then 1.5M events of the memory benchmark's
month) is applied to a fresh engine; then the state is snapshotted both ways and the pause of
the event loop is printed.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from bench.replay_throughput import DATA
from sellerwatch.agents.snapshots import ForkedSnapshot, compress
from sellerwatch.runtime import tune_gc_for_engine
from sellerwatch.sources import read_records
from sellerwatch.streams.engine import Engine


async def pauses(engine: Engine) -> tuple[float, float, float]:
    """(in-process seconds, forked pause seconds, forked child seconds)."""
    started = time.perf_counter()
    compress(engine.snapshot())
    in_process = time.perf_counter() - started
    started = time.perf_counter()
    forked = ForkedSnapshot(engine, 0)
    pause = time.perf_counter() - started
    await forked.data
    return in_process, pause, time.perf_counter() - started


def main() -> int:
    tune_gc_for_engine()
    files = sys.argv[1:] or [
        str(DATA / "worker-500000.jsonl"),
        str(DATA / "large-31d-seed3orders-per-day32000.jsonl"),
    ]
    print("| open orders | pickled in the engine's process | forked: engine paused | child done |")
    print("|---|---|---|---|")
    for name in files:
        if not Path(name).exists():
            print(f"(skipped {name}: run bench.worker_throughput / bench.worker_memory first)")
            continue
        engine = Engine()
        for n, record in enumerate(read_records(name)):
            if n >= 1_500_000:
                break
            engine.accept(record[0])  # type: ignore[arg-type]
        in_process, pause, child = asyncio.run(pauses(engine))
        orders = len(engine.state.book.orders)
        print(f"| {orders:,} | {in_process:.2f} s | {pause * 1000:.0f} ms | {child:.2f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

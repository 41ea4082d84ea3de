"""Worker RSS with ~1M open orders, measured on the real broker.

    python -m bench.worker_memory [--orders-per-day 32000] [--days 31]

Generates a month of a marketplace large enough to hold ~1M open orders at once (orders stay
open for the 31-day quality-refund horizon), loads it into fresh topics, runs one worker until
the engine has applied everything, and samples the worker's RSS and open orders every second.
"""

from __future__ import annotations

import argparse
import time
import uuid

import orjson

from bench.replay_throughput import DATA, RESULTS, generated, machine
from bench.worker_throughput import rss_mb, sh, start_worker, stats, stop


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders-per-day", type=int, default=32_000)
    parser.add_argument("--days", type=int, default=31)
    args = parser.parse_args()
    sh("bash", "deploy/local/up.sh")
    path = generated(args.days, 3, "--orders-per-day", str(args.orders_per_day))
    total = sum(1 for _ in path.open("rb"))
    prefix = f"mem{uuid.uuid4().hex[:6]}."
    started = time.perf_counter()
    sh("sellerwatch", "produce", "--topic-prefix", prefix, str(path))
    print(f"loaded {total:,} events in {time.perf_counter() - started:.0f}s", flush=True)
    process = start_worker(
        prefix, 16510, DATA / "memory-worker.log", SELLERWATCH_SNAPSHOT_INTERVAL_S="600"
    )
    peak_rss, peak_open, samples = 0.0, 0, []
    try:
        while True:
            time.sleep(1)
            s = stats(16510) or {}
            rss = rss_mb(process.pid)
            open_orders = s.get("open_orders") or 0
            peak_rss, peak_open = max(peak_rss, rss), max(peak_open, open_orders)
            samples.append((s.get("engine_records", 0), rss, open_orders))
            if s.get("accounting") and s["accounting"]["in"] >= total:
                break
            if process.poll() is not None:
                raise RuntimeError("worker died")
    finally:
        stop(process)
    result = {
        "machine": machine(),
        "events": total,
        "peak_open_orders": peak_open,
        "peak_rss_mb": round(peak_rss, 1),
        "rss_per_open_order_bytes": round(peak_rss * 1024 * 1024 / max(peak_open, 1)),
        "seconds": round(time.perf_counter() - started),
    }
    (RESULTS / "worker_memory.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

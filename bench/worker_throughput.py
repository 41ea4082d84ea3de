"""Issue 4's benchmark, in one run, on the real broker (deploy/local/up.sh):

1. bare aiokafka: ``getmany`` + ``orjson.loads`` over the input topics (the ceiling);
2. the sellerwatch worker (the engine owner reads the inputs): events/s from its first
   committed batch to the engine having applied the last record;
   For the ceiling, the same events through the core alone: ``sellerwatch backtest
   --from-topics`` (same topics, no transactions or outputs) and the file replay (no Kafka);
3. the naive Faust agent (bench/faust_naive.py) on the first 100k events, as the peer;
4. latency from an evaluation instant passing (the record that moves W past E is acknowledged
   by the broker) to its verdict being readable on the verdict topic (read_committed);
5. the worker's RSS and open orders at the end, extrapolated to 1M open orders.

    python -m bench.worker_throughput [--events 500000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.replay_throughput import RESULTS, first_events, machine
from sellerwatch.streams.calendar import Calendar

ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP = "localhost:9092"


def sh(*args: str, **kw: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(args, check=True, capture_output=True, cwd=ROOT, **kw)


async def bare_consume(prefix: str, total: int) -> float:
    """events/s of getmany + orjson over the input topics, first record to last."""
    from sellerwatch.agents.topics import Topics, input_partitions

    tps = [TopicPartition(t, p) for t, p in await input_partitions(BOOTSTRAP, Topics(prefix))]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=BOOTSTRAP,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 << 20,
        fetch_max_bytes=32 << 20,
    )
    await consumer.start()
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    seen, first = 0, None
    while seen < total:
        batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
        for records in batch.values():
            if first is None:
                first = time.perf_counter()
            for record in records:
                orjson.loads(record.value)
            seen += len(records)
    elapsed = time.perf_counter() - (first or time.perf_counter())
    await consumer.stop()
    return seen / elapsed


def backtest_run(prefix: str, total: int) -> float:
    """events/s of ``backtest --from-topics`` in a fresh process: reading + the core, no outputs."""
    command = [sys.executable, "-c", _BACKTEST_SNIPPET, BOOTSTRAP, prefix]
    return total / float(sh(*command).stdout)


_BACKTEST_SNIPPET = """
import asyncio, io, sys, time
from sellerwatch.agents.backtest import backtest
from sellerwatch.runtime import tune_gc_for_engine
tune_gc_for_engine()
started = time.perf_counter()
asyncio.run(backtest(sys.argv[1], sys.argv[2], io.BytesIO()))
print(time.perf_counter() - started)
"""


def stats(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats/", timeout=2) as r:  # noqa: S310
            return orjson.loads(r.read())
    except OSError:
        return None


def start_worker(prefix: str, port: int, log: Path, **env: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                "sellerwatch",
                "worker",
                "--topic-prefix",
                prefix,
                "--web-port",
                str(port),
                "--loglevel",
                "warning",
            ],
            env={**os.environ, "SELLERWATCH_INSTANCE": "bench", **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def rss_mb(pid: int) -> float:
    """Resident set of the worker process (``sellerwatch worker`` is one process)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker_run(prefix: str, total: int, port: int, log: Path) -> dict[str, float]:
    process = start_worker(prefix, port, log, SELLERWATCH_SNAPSHOT_INTERVAL_S="60")
    first = None
    try:
        while True:
            s = stats(port)
            if s and s["forwarded"] and first is None:
                first = time.perf_counter()
            if s and s["accounting"] and s["accounting"]["in"] >= total:
                done = time.perf_counter()
                break
            if process.poll() is not None:
                raise RuntimeError(f"worker died, see {log}")
            time.sleep(0.05)
        rss = rss_mb(process.pid)
        open_orders = s.get("open_orders") or 0
    finally:
        stop(process)
    return {
        "events_per_s": total / (done - (first or done)),
        "rss_mb": rss,
        "open_orders": open_orders,
    }


def naive_run(prefix: str, limit: int, log: Path) -> float:
    """events/s of the naive agent over its first ``limit`` events (after the first 10k)."""
    env = {**os.environ, "BENCH_PREFIX": prefix, "BENCH_BOOTSTRAP": BOOTSTRAP}
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["faust", "-A", "bench.faust_naive", "worker", "-l", "warn"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
    try:
        points: list[tuple[int, float]] = []
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            time.sleep(1)
            for line in log.read_text(errors="replace").splitlines():
                if "NAIVE " in line:
                    count = line.split("NAIVE ", 1)[1].split()[0]
                    if int(count) not in {c for c, _ in points}:
                        points.append((int(count), time.monotonic()))
            if points and points[-1][0] >= limit:
                break
        if len(points) < 2:
            raise RuntimeError(f"naive agent made no progress, see {log}")
        (c0, t0), (c1, t1) = points[0], points[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else float("nan")
    finally:
        stop(process)


async def latency_trials(prefix: str, port: int, trials: int) -> list[float]:
    """Seconds from the W-moving record's ack to its verdict being readable."""
    calendar = Calendar()
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")
    await producer.start()
    consumer = AIOKafkaConsumer(
        f"{prefix}verdicts.delist",
        bootstrap_servers=BOOTSTRAP,
        isolation_level="read_committed",
        auto_offset_reset="latest",
        group_id=f"{prefix}bench-latency",
    )
    await consumer.start()
    await asyncio.sleep(2)
    base = calendar.ordinal("2025-01-06")
    out = []

    async def send(topic: str, key: str, doc: dict[str, Any]) -> None:
        await (await producer.send(prefix + topic, orjson.dumps(doc), key=key.encode()))

    for i in range(trials):
        day = base + 7 * i
        item = f"LAT{i}"
        paid = calendar.at(day - 5, 10, 0)
        await send(
            "seller-programs",
            item,
            {
                "type": "subsidy",
                "event_id": f"lat-s{i}",
                "ts": paid - 3_600_000,
                "shop_id": "LS",
                "item_id": item,
                "action": "join",
            },
        )
        await send(
            "payments",
            f"LO{i}",
            {
                "type": "payment",
                "event_id": f"lat-p{i}",
                "ts": paid,
                "order_id": f"LO{i}",
                "shop_id": "LS",
                "item_id": item,
                "category_id": "LC",
                "channel": "taote",
                "amount_cents": 100,
            },
        )
        await asyncio.sleep(3.5)  # the payment's partition goes idle again (timeout 1.5 s)
        tick = calendar.start_of(day) + 5 * 60_000
        started = time.perf_counter()
        await send(
            "seller-programs",
            "LT",
            {
                "type": "enrollment",
                "event_id": f"lat-t{i}",
                "ts": tick,
                "shop_id": "LT",
                "action": "cancel",
            },
        )
        while True:
            batch = await consumer.getmany(timeout_ms=5000)
            found = [r for rs in batch.values() for r in rs if item.encode() == r.key]
            if found:
                out.append(time.perf_counter() - started)
                break
            if time.perf_counter() - started > 30:
                out.append(float("nan"))
                break
    await consumer.stop()
    await producer.stop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    sh("bash", "deploy/local/up.sh")
    work = ROOT / "bench" / "data"
    source = first_events(work / f"worker-{args.events}.jsonl", args.events, 2)
    total = sum(1 for _ in source.open("rb"))
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    print(f"loading {total:,} events into topics {prefix}* ...", flush=True)
    sh("sellerwatch", "produce", "--topic-prefix", prefix, str(source))

    bare = asyncio.run(bare_consume(prefix, total))
    print(f"bare aiokafka getmany+orjson: {bare:,.0f} events/s", flush=True)
    backtest_rate = backtest_run(prefix, total)
    print(f"backtest --from-topics (core on Kafka): {backtest_rate:,.0f} events/s", flush=True)
    measured = sh(sys.executable, "-m", "bench.measure", "replay", str(source))
    replay_rate = float(orjson.loads(measured.stdout)["events_per_s"])
    print(f"file replay (core alone): {replay_rate:,.0f} events/s", flush=True)
    worker = worker_run(prefix, total, 16500, work / "worker.log")
    print(f"sellerwatch worker: {worker['events_per_s']:,.0f} events/s", flush=True)
    naive = naive_run(prefix, 100_000, work / "naive.log")
    print(f"naive Faust agent: {naive:,.0f} events/s", flush=True)

    lat_prefix = f"lat{uuid.uuid4().hex[:6]}."
    sh("sellerwatch", "topics", "--topic-prefix", lat_prefix)
    process = start_worker(
        lat_prefix, 16501, work / "latency.log", SELLERWATCH_IDLE_TIMEOUT_MS="1500"
    )
    try:
        time.sleep(12)
        latencies = asyncio.run(latency_trials(lat_prefix, 16501, args.trials))
    finally:
        stop(process)
    good = sorted(x for x in latencies if x == x)
    p50 = statistics.median(good) if good else float("nan")
    p99 = good[min(len(good) - 1, int(0.99 * len(good)))] if good else float("nan")
    print(
        f"latency E passing -> verdict readable: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms "
        f"over {len(good)}/{len(latencies)} trials",
        flush=True,
    )
    result = {
        "machine": machine(),
        "events": total,
        "bare_events_per_s": round(bare),
        "worker_events_per_s": round(worker["events_per_s"]),
        "worker_vs_bare": round(worker["events_per_s"] / bare, 3),
        "backtest_from_topics_events_per_s": round(backtest_rate),
        "backtest_vs_bare": round(backtest_rate / bare, 3),
        "file_replay_events_per_s": round(replay_rate),
        "replay_vs_bare": round(replay_rate / bare, 3),
        "naive_faust_events_per_s": round(naive),
        "naive_vs_bare": round(naive / bare, 4),
        "latency_p50_ms": round(p50 * 1000),
        "latency_p99_ms": round(p99 * 1000),
        "latency_trials": len(latencies),
        "worker_rss_mb": round(worker["rss_mb"], 1),
        "worker_open_orders": worker["open_orders"],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "worker_throughput.json").write_bytes(
        orjson.dumps(result, option=orjson.OPT_INDENT_2)
    )
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())

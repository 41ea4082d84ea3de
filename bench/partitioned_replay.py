"""What splitting the state costs and saves, in one process (issue #9, first step).

    python -m bench.partitioned_replay [--events 1000000] [--partitions 1 2 4 8] [--repeat 3] [FILE]

Each N runs in a fresh interpreter on the same file (the large profile unless a file is given),
``--repeat`` times, the Ns interleaved so that a slow spell of a shared machine falls on all of
them; each N's least CPU is reported (one run alone varies by ±10% here):
N = 1 is the plain :class:`Engine`, N > 1 the :class:`PartitionedEngine`. Measured: CPU seconds
per event (user + sys of the process) and open orders, in total and in the largest shard,
sampled every 20,000 events — the largest shard's share is what one worker of N would hold.
Writes bench/results/partitioned_replay.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from bench.replay_throughput import RESULTS, ROOT, generate, machine

SAMPLE_EVERY = 20_000


def child(path: str, partitions: int) -> dict[str, float]:
    """One run: feed every line, finish, report CPU and the open orders seen."""
    from sellerwatch.runtime import tune_gc_for_engine
    from sellerwatch.schemas.validation import Rejected, decode_event
    from sellerwatch.streams.engine import Engine
    from sellerwatch.streams.partitioned import PartitionedEngine

    engine: Engine = PartitionedEngine(partitions=partitions) if partitions > 1 else Engine()
    tune_gc_for_engine()  # as the replay driver does
    books = [s.state.book for s in engine._shards()]
    lines = Path(path).read_bytes().splitlines()
    before = resource.getrusage(resource.RUSAGE_SELF)
    peak_total = peak_shard = 0
    for count, line in enumerate(lines, 1):
        event = decode_event(line)
        if isinstance(event, Rejected):
            engine.reject(event)
        else:
            engine.accept(event)
        if count % SAMPLE_EVERY == 0:
            sizes = [len(b.orders) for b in books]
            peak_total = max(peak_total, sum(sizes))
            peak_shard = max(peak_shard, max(sizes))
    engine.finish()
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "partitions": partitions,
        "events": len(lines),
        "cpu_s": round(cpu, 3),
        "cpu_us_per_event": round(cpu / len(lines) * 1e6, 3),
        "verdicts": len(engine.take_verdicts()),
        "peak_open_orders": peak_total,
        "peak_open_orders_largest_shard": peak_shard,
    }


def _run_child(path: Path, partitions: int) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.partitioned_replay",
            str(path),
            "--child",
            str(partitions),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    result: dict[str, float] = orjson.loads(out.stdout)
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("file", nargs="?")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        sys.stdout.write(orjson.dumps(child(args.file, args.child)).decode())
        return 0
    path = Path(args.file) if args.file else generate(args.events)
    tries: dict[int, list[dict[str, float]]] = {n: [] for n in args.partitions}
    for attempt in range(1, args.repeat + 1):
        for partitions in args.partitions:
            print(f"run {attempt}/{args.repeat}, N = {partitions} ...", file=sys.stderr, flush=True)
            tries[partitions].append(_run_child(path, partitions))
    runs: list[dict[str, Any]] = []
    for results in tries.values():
        best: dict[str, Any] = dict(min(results, key=lambda r: r["cpu_s"]))
        best["cpu_us_per_event_runs"] = [r["cpu_us_per_event"] for r in results]
        runs.append(best)
    base = runs[0]
    assert all(r["verdicts"] == base["verdicts"] for r in runs), "verdict counts differ"
    result = {"file": str(path), "machine": machine(), "runs": runs}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "partitioned_replay.json").write_bytes(
        orjson.dumps(result, option=orjson.OPT_INDENT_2)
    )
    print(f"machine: {result['machine']}; {base['events']:,} events, {base['verdicts']:,} verdicts")
    print(
        "| N | CPU µs/event (least) | vs N = 1 | every run "
        "| peak open orders | largest shard | its share |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in runs:
        share = r["peak_open_orders_largest_shard"] / max(r["peak_open_orders"], 1)
        print(
            f"| {r['partitions']} | {r['cpu_us_per_event']} | "
            f"{r['cpu_us_per_event'] / base['cpu_us_per_event']:.2f}× | "
            f"{', '.join(str(x) for x in r['cpu_us_per_event_runs'])} | "
            f"{r['peak_open_orders']:,} | {r['peak_open_orders_largest_shard']:,} | {share:.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

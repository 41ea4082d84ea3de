"""A capacity model for a Double-11 peak, from what this machine measured (issue #9).

    python -m bench.capacity [--state-file FILE] [--events-per-s 2300000] [--open-orders 300e6]

Inputs, each read from a result this repository's benchmarks wrote (``bench/results``):

* CPU per event of one live worker: ``worker_throughput.json`` (one worker process, which runs
  its Python on one core, so its events/s is at most one core's worth: 1/rate is an upper bound
  of its CPU per event);
* what splitting the state costs: ``partitioned_replay.json`` (least CPU at N = 4 over N = 1);
* what one more pass through Kafka costs per event (a routed event crosses an internal topic):
  the direct worker's rate over the sequenced one's, whose every record crossed Kafka twice
  (``worker_throughput.json`` while it holds that run; :data:`RECORDED_HOP_COST` after, the mode
  being removed);
* bytes per open order of a live worker, its base included: ``worker_memory.json``;
* what the coordinator keeps against the partitions (id memory, the order directory, the
  waybills' holders and waiting events): measured here, as the snapshot bytes of each part
  of a ``PartitionedEngine`` after the state file (the large profile, 17 days) — snapshot
  bytes are not RSS, but they weigh the parts' state against each other.

Writes bench/results/capacity.json and bench/results/capacity.png (workers against event rate)
and prints the table that docs/capacity.md quotes.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import orjson

from bench.replay_throughput import DATA, RESULTS, machine

UTILISATION = 0.6  # cores run at most 60% busy at the peak: room for a rebalance or a replay
WORKER_MEMORY_GB = 8.0  # one worker's memory limit; it fills at most 75% of it with state
MEMORY_FILL = 0.75
CORE_GOAL_SPEEDUP = 0.30 / 0.115  # issue #11's goal: replay at 0.30 of parse-only, from 0.115
BYTES_GOAL = 300  # issue #11's goal per open order


#: The direct worker's rate over the sequenced one's (77,076 / 60,151 events/s,
#: ``bench.worker_throughput``, BENCHMARKS.md §3), kept once the mode was removed.
RECORDED_HOP_COST = 1.28


def _result(name: str) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads((RESULTS / name).read_bytes())
    return data


def state_split(path: Path, partitions: int = 4) -> dict[str, Any]:
    """Feed the file's events into a partitioned engine (not finished: the state at its end)
    and weigh the coordinator's snapshot bytes against each partition's."""
    from sellerwatch.runtime import tune_gc_for_engine
    from sellerwatch.schemas.validation import Rejected, decode_event
    from sellerwatch.streams.partitioned import PartitionedEngine

    engine = PartitionedEngine(partitions=partitions)
    tune_gc_for_engine()
    lines = path.read_bytes().splitlines()
    for count, line in enumerate(lines, 1):
        event = decode_event(line)
        if isinstance(event, Rejected):
            engine.reject(event)
        else:
            engine.accept(event)
        if count % 200_000 == 0:
            print(f"  state split: {count:,}/{len(lines):,} events", file=sys.stderr, flush=True)
    engine.take_verdicts()  # outputs a driver would have written out: not state
    parts = [len(engine.partition_snapshot(i)) for i in range(partitions)]
    whole = len(engine.snapshot())
    return {
        "file": path.name,
        "events": len(lines),
        "partitions": partitions,
        "open_orders": sum(len(s.state.book.orders) for s in engine.shards),
        "coordinator_snapshot_bytes": whole - sum(parts),
        "partition_snapshot_bytes": parts,
        "coordinator_parts_bytes": _coordinator_parts(engine),
    }


def _coordinator_parts(engine: Any) -> dict[str, int]:
    """The coordinator's snapshot bytes by what they hold: which part to key first."""
    from sellerwatch.streams import snapshot as codec

    def size(*values: Any) -> int:
        return len(codec.dumps(list(values), engine.policy))

    stage = engine.waybills
    return {
        # the partitions hold the ids (session 12): what is left is a batch's recalled ids
        "id_memory": size(engine.recalled, engine.legacy_ids),
        "order_directory": size(engine.placed),
        # the waybills' scans are the partitions' since session 14: what is left is which
        # partitions hold each waybill, and the shipments and refunds waiting for a payment
        "waybills": size(stage.scans, stage.updates, stage.orphans, engine.shipped_in),
    }


def model(events_per_s: float, open_orders: float, split: dict[str, Any]) -> dict[str, Any]:
    """Workers, cores and memory for the peak, now and at issue #11's goals."""
    worker = _result("worker_throughput.json")
    memory = _result("worker_memory.json")
    runs = {r["partitions"]: r for r in _result("partitioned_replay.json")["runs"]}
    split_cost = runs[4]["cpu_us_per_event"] / runs[1]["cpu_us_per_event"]
    sequenced = worker.get("sequenced_worker_events_per_s")
    hop_cost = worker["worker_events_per_s"] / sequenced if sequenced else RECORDED_HOP_COST
    cpu_us = 1e6 / worker["worker_events_per_s"] * split_cost * hop_cost
    bytes_per_order = memory["rss_per_open_order_bytes"]
    coordinator_share = split["coordinator_snapshot_bytes"] / (
        split["coordinator_snapshot_bytes"] + sum(split["partition_snapshot_bytes"])
    )

    def plan(cpu_us_per_event: float, order_bytes: float) -> dict[str, Any]:
        cores = events_per_s * cpu_us_per_event / 1e6 / UTILISATION
        state_gb = open_orders * order_bytes / 1e9
        by_cpu = math.ceil(cores)  # one Python worker process per core
        # the coordinator's share too is spread, once it is keyed as the partitions are
        by_memory = math.ceil(state_gb / (WORKER_MEMORY_GB * MEMORY_FILL))
        workers = max(by_cpu, by_memory)
        return {
            "cpu_us_per_event": round(cpu_us_per_event, 2),
            "bytes_per_open_order": order_bytes,
            "cores": round(cores, 1),
            "state_gb": round(state_gb, 1),
            "workers_for_cpu": by_cpu,
            "workers_for_memory": by_memory,
            "workers": workers,
            # partitions are fixed when the topics are made: room to double the workers
            "partitions": 2 ** math.ceil(math.log2(2 * workers)),
            "state_per_worker_gb": round(state_gb / workers, 2),
            # what one unkeyed coordinator (today's PartitionedEngine) would hold alone
            "coordinator_alone_gb": round(state_gb * coordinator_share, 1),
        }

    return {
        "machine": machine(),
        "events_per_s": events_per_s,
        "open_orders": open_orders,
        "utilisation": UTILISATION,
        "worker_memory_gb": WORKER_MEMORY_GB,
        "measured": {
            "worker_events_per_s": worker["worker_events_per_s"],
            "split_cost_n4": round(split_cost, 3),
            "kafka_hop_cost": round(hop_cost, 3),
            "worker_rss_per_open_order_bytes": bytes_per_order,
            "coordinator_share_of_state": round(coordinator_share, 3),
            "state_split": split,
        },
        "today": plan(cpu_us, bytes_per_order),
        "at_issue_11_goals": plan(cpu_us / CORE_GOAL_SPEEDUP, BYTES_GOAL),
    }


def plot(result: dict[str, Any], out: Path) -> None:
    """Workers needed against the event rate, today and at issue #11's goals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = [10 ** (3 + i / 20) for i in range(0, 81)]  # 1k .. 10M events/s
    fig, ax = plt.subplots(figsize=(8, 5))
    for key, label, style in (
        ("today", "today's core", "-"),
        ("at_issue_11_goals", "at issue #11's goals", "--"),
    ):
        plan = result[key]
        per_worker = UTILISATION * 1e6 / plan["cpu_us_per_event"]
        ax.plot(rates, [max(1, r / per_worker) for r in rates], style, label=f"CPU, {label}")
        ax.axhline(
            plan["workers_for_memory"],
            linestyle=style,
            color="grey",
            label=f"memory for {result['open_orders'] / 1e6:.0f}M open orders, {label}",
        )
    ax.axvline(result["events_per_s"], color="red", linestyle=":", label="Double-11 peak")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("input events per second (all topics)")
    ax.set_ylabel("worker processes (one core each)")
    ax.set_title("sellerwatch capacity model (from measurements on a 2-core machine)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state-file", type=Path, default=DATA / "large-17d-seed1.jsonl")
    parser.add_argument("--events-per-s", type=float, default=2.3e6)
    parser.add_argument("--open-orders", type=float, default=300e6)
    args = parser.parse_args()
    if not args.state_file.exists():
        parser.error(f"{args.state_file} missing: python -m bench.partitioned_replay makes it")
    split = state_split(args.state_file)
    result = model(args.events_per_s, args.open_orders, split)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "capacity.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    plot(result, RESULTS / "capacity.png")
    print(f"machine: {result['machine']}")
    print(orjson.dumps(result["measured"], option=orjson.OPT_INDENT_2).decode())
    print(
        "| plan | µs/event | B/open order | cores | state GB | workers (CPU, memory) "
        "| partitions | state per worker GB | one coordinator alone, GB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for key in ("today", "at_issue_11_goals"):
        p = result[key]
        print(
            f"| {key} | {p['cpu_us_per_event']} | {p['bytes_per_open_order']} | {p['cores']} "
            f"| {p['state_gb']} | {p['workers']} ({p['workers_for_cpu']}, "
            f"{p['workers_for_memory']}) | {p['partitions']} | {p['state_per_worker_gb']} "
            f"| {p['coordinator_alone_gb']} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

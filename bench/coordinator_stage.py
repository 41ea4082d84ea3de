"""Issue 9: the coordinator's CPU per event, side by side with one engine's, in one process.

Every record of a partitioned deployment passes through its one coordinator, so the
coordinator's CPU per event caps the whole deployment's rate, however many partition workers
it has (on Kafka, ``bench.scale_out`` found it using more CPU than a whole one-engine worker).
This measures that path without a broker: each driver, in a fresh process, feeds the raw lines
of the same file in batches of 2,000 (a ``getmany``), as the workers do:

- ``decode``: ``decode_event`` of every line, nothing else (what any stage reading the
  input pays);
- ``engine``: one :class:`Engine`, ``accept_raw`` of every line (the engine worker's path);
- ``coordinator``: a :class:`RemoteCoordinator` of 4 partitions: per batch, its ids and
  waybills recalled (``recall_lines``, which decodes each line once); ``accept_raw`` of
  every line; each partition's messages encoded for the partition log, and the answers
  decoded and handed over. The partitions are :class:`Shard` objects in the same process:
  applying the messages and encoding the answers is their workers' CPU and is left out of
  the coordinator's (``time.process_time`` around it).

Kafka's own costs (fetching, producing, transactions) are not here: they are the same calls in
both workers, per batch. The drivers alternate, ``--repeats`` times; each one's least CPU is
kept.

    python -m bench.coordinator_stage [--events 500000] [--repeats 3] [FILE]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from bench.replay_throughput import first_events, machine, save_result

ROOT = Path(__file__).resolve().parent.parent
BATCH = 2_000
PARTITIONS = 4
DRIVERS = ("decode", "engine", "coordinator")


def child(path: str, driver: str) -> dict[str, Any]:
    """One driver over the file, in this process: its CPU per event."""
    from sellerwatch.runtime import tune_gc_for_engine
    from sellerwatch.schemas.validation import decode_event
    from sellerwatch.streams import remote
    from sellerwatch.streams.engine import Engine
    from sellerwatch.streams.partitioned import Shard
    from sellerwatch.streams.remote import RemoteCoordinator

    tune_gc_for_engine()
    lines = Path(path).read_bytes().splitlines()
    batches = [lines[i : i + BATCH] for i in range(0, len(lines), BATCH)]
    elsewhere = 0.0  # CPU of the partitions, left out of the coordinator's
    measuring = 0.0  # CPU of measuring the state's bytes, left out of both
    started = time.process_time()
    if driver == "decode":
        for batch in batches:
            for line in batch:
                decode_event(line)
    elif driver == "engine":
        engine = Engine()
        for batch in batches:
            for line in batch:
                engine.accept_raw(line)
            engine.take_verdicts()
        engine.finish()
    else:
        coordinator = RemoteCoordinator(partitions=PARTITIONS)
        shards = [Shard(coordinator.policy) for _ in range(PARTITIONS)]

        def carry() -> list[bytes]:
            nonlocal elsewhere
            answers: list[bytes] = []
            blobs = [
                (index, remote.encode_messages(messages))
                for index, messages in enumerate(coordinator.take_messages())
                if messages
            ]
            away = time.process_time()
            for index, blob in blobs:
                replies = remote.apply_messages(shards[index], blob)
                answers += [remote.encode_answer(index, *reply) for reply in replies]
            elsewhere += time.process_time() - away
            return answers

        def settle() -> None:
            answers = carry()
            while coordinator.asking is not None:
                decoded = sorted(remote.decode_answer(blob) for blob in answers)
                coordinator.answer([answer for _, _, answer in decoded])
                answers = carry()

        for batch in batches:
            coordinator.recall_lines(batch)  # each line decoded once: its id and waybill
            settle()
            for line in batch:
                coordinator.accept_raw(line)
                if coordinator.asking is not None:  # parked: the rest of the batch waits
                    settle()
            settle()  # the batch's messages, in its transaction
            coordinator.take_verdicts()
        away = time.process_time()
        state = _state_bytes(coordinator, shards)  # mid-stream: before the end applies all
        measuring = time.process_time() - away
        coordinator.finish()
        settle()
    cpu = time.process_time() - started - elsewhere - measuring
    result = {
        "driver": driver,
        "events": len(lines),
        "cpu_s": round(cpu, 3),
        "partitions_cpu_s": round(elsewhere, 3),
        "cpu_us_per_event": round(cpu / len(lines) * 1e6, 3),
    }
    if driver == "coordinator":
        result["state_bytes"] = state
    return result


def _state_bytes(coordinator: Any, shards: list[Any]) -> dict[str, Any]:
    """Snapshot bytes of the coordinator, by part, and of each partition, after the last
    batch (the records waiting for W still held): which part of the state is where."""
    from sellerwatch.streams import snapshot as codec

    def size(*values: Any) -> int:
        return len(codec.dumps(list(values), coordinator.policy))

    stage = coordinator.waybills
    return {
        "coordinator": len(coordinator.snapshot()),
        "order_directory": size(coordinator.placed),
        "waiting_events": size(stage.orphans),
        "waybill_holders": size(coordinator.shipped_in),
        # every scan until session 14 (the waybill stage); now a legacy snapshot's only
        "stage_scans": size(stage.scans, stage.updates, stage.scan_days),
        # since session 14: the scans of the waybills that held shipments name
        "shipping_waybills": size(
            getattr(coordinator, "shipping", None), getattr(coordinator, "shipping_refs", None)
        ),
        "records_waiting_for_w": size(coordinator._pending),
        "partitions": [len(shard.snapshot()) for shard in shards],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("file", nargs="?")
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=DRIVERS)
    parser.add_argument("--name", default="coordinator_stage")
    args = parser.parse_args()
    if args.child:
        print(orjson.dumps(child(args.file, args.child)).decode())
        return 0
    source = (
        Path(args.file)
        if args.file
        else first_events(ROOT / "bench" / "data" / f"scale-{args.events}.jsonl", args.events, 3)
    )
    runs: dict[str, list[dict[str, Any]]] = {d: [] for d in DRIVERS}
    for repeat in range(args.repeats):
        for driver in DRIVERS:
            out = subprocess.run(
                [sys.executable, "-m", "bench.coordinator_stage", str(source), "--child", driver],
                check=True,
                capture_output=True,
                cwd=ROOT,
            )
            result = orjson.loads(out.stdout)
            runs[driver].append(result)
            print(f"run {repeat + 1}/{args.repeats} {driver}: {result}", file=sys.stderr)
    best = {d: min(r["cpu_us_per_event"] for r in rs) for d, rs in runs.items()}
    summary = {
        "machine": machine(),
        "file": source.name,
        "events": runs["engine"][0]["events"],
        "partitions": PARTITIONS,
        "batch": BATCH,
        "cpu_us_per_event": best,
        "every_run": {d: [r["cpu_us_per_event"] for r in rs] for d, rs in runs.items()},
        "partitions_cpu_us_per_event": min(r["partitions_cpu_s"] for r in runs["coordinator"])
        / runs["engine"][0]["events"]
        * 1e6,
        "coordinator_vs_engine": round(best["coordinator"] / best["engine"], 3),
        "state_bytes": runs["coordinator"][0]["state_bytes"],
    }
    save_result(args.name, summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

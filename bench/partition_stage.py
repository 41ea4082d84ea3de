"""Issue 9, item 4: the partition stage as a Faust agent, against the aiokafka loop it is.

1. A coordinator and one partition worker run over the file (``bench.scale_out.run``), which
   leaves the coordinator's ``sellerwatch.partition-log`` (4 partitions, one record per
   partition per coordinator transaction, frames of a typed batch of messages) on the broker.
2. Each driver, in a fresh process, reads that log from its start and does the stage's work on
   every record: join the frames, apply the batch to its partition's :class:`Shard` (the same
   ``streams.remote.apply_messages`` the worker calls) and encode the answers. No producing,
   transactions or snapshots: those would be the same calls of the same aiokafka producer in
   either driver, so this is the path that differs.
   - ``aiokafka``: the worker's loop, ``getmany`` batches of records;
   - ``faust``: one agent on the log topic, ``async for event in stream.events()``.
3. CPU (``time.process_time``) from the first record to the last, per input event of the file
   and per log record; the drivers alternate, ``--repeats`` times.

    python -m bench.partition_stage [--events 500000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from typing import Any

import orjson

from bench.replay_throughput import machine, save_result
from bench.scale_out import STATE_PARTITIONS, prepare, run, start_cost

CHILD_TIMEOUT_S = 900


class Stage:
    """The stage's work on one record, whichever driver delivers it."""

    def __init__(self) -> None:
        from sellerwatch.agents.framing import Joiner
        from sellerwatch.agents.settings import Settings
        from sellerwatch.streams.partitioned import Shard

        self.policy = Settings().policy()
        self.shards: dict[int, Shard] = {}
        self.joiner = Joiner()
        self.records = 0
        self.answers = 0
        self.started: float | None = None

    def take(self, partition: int, value: bytes, headers: Any) -> None:
        from sellerwatch.streams import remote
        from sellerwatch.streams.partitioned import Shard

        if self.started is None:
            self.started = time.process_time()
        self.records += 1
        blob = self.joiner.add(partition, value, list(headers or ()))
        if blob is None:
            return
        shard = self.shards.get(partition)
        if shard is None:
            shard = self.shards[partition] = Shard(self.policy, collect_evaluations=True)
        for reply in remote.apply_messages(shard, blob):
            remote.encode_answer(partition, *reply)
            self.answers += 1

    def report(self, driver: str) -> None:
        cpu = time.process_time() - (self.started or 0.0)
        line = {"driver": driver, "records": self.records, "answers": self.answers, "cpu_s": cpu}
        print("RESULT " + orjson.dumps(line).decode(), flush=True)


def log_topic(prefix: str) -> str:
    return f"{prefix}sellerwatch.partition-log"


async def aiokafka_child(prefix: str, bootstrap: str) -> None:
    """The worker's loop: assigned partitions, ``getmany``, read to the last stable offset."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        topic = log_topic(prefix)
        partitions = [TopicPartition(topic, p) for p in range(int(STATE_PARTITIONS))]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        stage = Stage()
        while True:
            batch = await consumer.getmany(timeout_ms=500, max_records=2000)
            for tp, records in batch.items():
                for record in records:
                    stage.take(tp.partition, record.value or b"", record.headers)
            positions = [await consumer.position(tp) for tp in partitions]
            if all(pos >= ends[tp] for pos, tp in zip(positions, partitions, strict=True)):
                break
        stage.report("aiokafka")
    finally:
        await consumer.stop()


def faust_child(prefix: str, bootstrap: str, records: int) -> None:
    """One Faust agent on the log topic; stops after ``records`` records (the aiokafka count)."""
    import faust

    app = faust.App(
        f"{prefix}bench-partition-stage-{os.getpid()}",
        broker=f"kafka://{bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
    )
    topic = app.topic(log_topic(prefix), value_serializer="raw", key_serializer="raw")
    stage = Stage()

    @app.agent(topic)
    async def partition_stage(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            stage.take(message.partition, event.value, message.headers)
            if stage.records >= records:
                stage.report("faust")
                os._exit(0)

    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


def child_result(driver: str, prefix: str, records: int = 0) -> dict[str, Any]:
    bootstrap = os.environ.get("SELLERWATCH_BOOTSTRAP", "localhost:9092")
    args = [sys.executable, "-m", "bench.partition_stage", "--child", driver, prefix, bootstrap]
    done = subprocess.run(
        [*args, str(records)], capture_output=True, text=True, timeout=CHILD_TIMEOUT_S
    )
    for line in (done.stdout + done.stderr).splitlines():  # Faust logs what it prints
        if "RESULT {" in line:
            result: dict[str, Any] = orjson.loads(line[line.index("RESULT {") + 7 :])
            return result
    raise RuntimeError(f"{driver} child gave no result: {done.stderr[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=4, metavar=("DRIVER", "PREFIX", "BOOTSTRAP", "RECORDS"))
    parser.add_argument("--prefix", help="read the partition log a run already wrote")
    args = parser.parse_args()
    if args.child:
        driver, prefix, bootstrap, records = args.child
        if driver == "aiokafka":
            asyncio.run(aiokafka_child(prefix, bootstrap))
        else:
            faust_child(prefix, bootstrap, int(records))
        return 0
    source, total, end_w = prepare(args.events)
    prefix = args.prefix
    if prefix is None:
        print(f"{total:,} events: writing the partition log (coordinator + 1 worker) ...")
        base = start_cost(["coordinator", "partitions"], idle_s=2.0)
        prefix = run(source, total, end_w, ["coordinator", "partitions"], base)["prefix"]
    print(f"reading {log_topic(prefix)}", flush=True)
    every: dict[str, list[dict[str, Any]]] = {"aiokafka": [], "faust": []}
    records = 0
    for repeat in range(args.repeats):
        for driver in every:
            result = child_result(driver, prefix, records)
            records = records or result["records"]
            print(f"run {repeat + 1}: {result}", flush=True)
            every[driver].append(result)
    rows = {}
    for driver, results in every.items():
        best = min(results, key=lambda r: r["cpu_s"])
        rows[driver] = {
            "records": best["records"],
            "answers": best["answers"],
            "cpu_s_every_run": [round(r["cpu_s"], 3) for r in results],
            "cpu_us_per_event": round(best["cpu_s"] / total * 1e6, 2),
            "cpu_us_per_record": round(best["cpu_s"] / best["records"] * 1e6, 1),
        }
    summary = {
        "machine": machine(),
        "events": total,
        "log_records": records,
        "input_events_per_log_record": round(total / records, 1),
        "drivers": rows,
        "faust_vs_aiokafka": round(
            rows["faust"]["cpu_us_per_event"] / rows["aiokafka"]["cpu_us_per_event"], 3
        ),
    }
    save_result("partition_stage", summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

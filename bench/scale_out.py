"""Issue 9's benchmark, in one run, on the real broker (deploy/local/up.sh): the same topics
through one engine worker and through a coordinator with 1, 2 and 4 partition workers.

For each deployment, on its own copy of the topics: the CPU seconds of every process (user +
system, forked snapshot children included) summed and divided by the events — gross, and net of
what each process costs without work (starting, and each idle second, measured on an empty
set of topics), the least of ``--repeats`` interleaved runs — the peak RSS (``VmHWM``) of
each process, and the wall time to the last verdict. Then the latency from an evaluation
instant passing to its verdict being readable, at 4 partition workers. On 2 cores the wall time
says little (six processes share two cores); CPU per event and RSS per worker do not depend on
that.

    python -m bench.scale_out [--events 500000] [--workers 1,2,4] [--repeats 3] [--trials 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.replay_throughput import first_events, machine, save_result
from bench.worker_throughput import latency_trials, sh, start_worker, stats, stop

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "data"
STATE_PARTITIONS = "4"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU of ``pid`` and its waited-for children (snapshot forks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / TICKS


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Process:
    """One worker process of a deployment."""

    role: str
    popen: subprocess.Popen[bytes]
    port: int
    samples: list[float] = field(default_factory=list)


def launch(prefix: str, role: str, port: int, name: str, **env: str) -> Process:
    settings = {"SELLERWATCH_ROLE": role, "SELLERWATCH_PARTITIONS": STATE_PARTITIONS}
    settings |= {"SELLERWATCH_SNAPSHOT_INTERVAL_S": "60", "SELLERWATCH_REDIS_URL": ""}
    # silent input partitions stop holding W back soon: the run reaches its last instant
    settings |= {"SELLERWATCH_IDLE_TIMEOUT_MS": "2000", **env}
    log = WORK / f"scale-{name}.log"
    return Process(role, start_worker(prefix, port, log, **settings), port)


def wait_ready(processes: list[Process], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not all(stats(p.port) for p in processes):
        if time.monotonic() > deadline:
            raise RuntimeError("workers did not start")
        time.sleep(0.2)


def settle(workers: list[Process], seconds: float = 90) -> None:
    """Wait until the partition workers hold the state partitions between them, each some."""
    if not workers:
        return
    wait_ready(workers)
    deadline = time.monotonic() + seconds
    while True:
        held = [(stats(p.port) or {}).get("state_partitions") or [] for p in workers]
        if all(held) and sum(len(h) for h in held) == int(STATE_PARTITIONS):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the partition group did not settle: {held}")
        time.sleep(0.2)


@dataclass(frozen=True)
class Base:
    """What a worker of one role costs without work: starting, then each idle second."""

    start_cpu_s: float
    idle_cpu_per_s: float
    rss_mb: float


def start_cost(roles: list[str], idle_s: float = 10.0) -> dict[str, Base]:
    """Each role's :class:`Base`, measured on an empty set of topics."""
    prefix = f"idle{uuid.uuid4().hex[:6]}."
    sh("sellerwatch", "topics", "--topic-prefix", prefix, env=_env())
    out = {}
    for n, role in enumerate(roles):
        process = launch(prefix, role, 16600 + n, f"idle-{role}")
        try:
            wait_ready([process])
            time.sleep(2)
            started = cpu_s(process.popen.pid)
            time.sleep(idle_s)
            idle = (cpu_s(process.popen.pid) - started) / idle_s
            out[role] = Base(started, idle, peak_rss_mb(process.popen.pid))
        finally:
            stop(process.popen)
    return out


def _env() -> dict[str, str]:
    return {**os.environ, "SELLERWATCH_PARTITIONS": STATE_PARTITIONS}


def run(
    source: Path,
    total: int,
    end_w: int,
    roles: list[str],
    base: dict[str, Base],
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One deployment over a fresh copy of the topics, until its watermark reaches ``end_w``
    and no instant waits: CPU, RSS, wall time, verdicts (``env``: more worker settings)."""
    prefix = f"scale{uuid.uuid4().hex[:6]}."
    sh("sellerwatch", "produce", "--topic-prefix", prefix, str(source), env=_env())
    names = [f"{len(roles)}-{n}-{role}" for n, role in enumerate(roles)]
    ports = [16610 + n for n in range(len(roles))]
    # The partition workers first, until each holds its share: started together with the
    # coordinator, the first to join the group holds every partition until the others join
    # (the local broker's group.initial.rebalance.delay.ms is 0), and that start-up, not the
    # split, then sets its peak RSS.
    processes = [
        launch(prefix, role, port, name, **(env or {}))
        for role, port, name in zip(roles, ports, names, strict=True)
        if role == "partitions"
    ]
    launched = {p.port: time.perf_counter() for p in processes}
    try:
        settle(processes)
        processes.insert(0, launch(prefix, roles[0], ports[0], names[0], **(env or {})))
        launched[ports[0]] = time.perf_counter()
        head = processes[0]
        started = time.perf_counter()
        last_change, verdicts = time.perf_counter(), -1
        peak_waiting = peak_held_back = 0
        while True:
            top = stats(head.port) or {}
            peak_waiting = max(peak_waiting, top.get("waiting_events") or 0)
            peak_held_back = max(peak_held_back, top.get("held_back") or 0)
            books = top.get("accounting") or {}
            if top.get("verdicts_committed", 0) != verdicts:
                verdicts, last_change = top.get("verdicts_committed", 0), time.perf_counter()
            settled = time.perf_counter() - last_change > 5
            at_end = (top.get("watermark") or 0) >= end_w and books.get("in", 0) >= total
            if at_end and top.get("waiting_for") is None and settled:
                break
            if any(p.popen.poll() is not None for p in processes):
                raise RuntimeError(f"a worker died: see {WORK}/scale-*.log")
            if time.perf_counter() - last_change > 300:
                raise RuntimeError(f"no verdict for 5 minutes, stuck: {top}")
            time.sleep(0.2)
        wall = last_change - started
        now = time.perf_counter()
        gross = [cpu_s(p.popen.pid) for p in processes]
        # less starting, and what the process burns each second whether or not it works
        cpu = [
            c - base[p.role].start_cpu_s - base[p.role].idle_cpu_per_s * (now - launched[p.port])
            for c, p in zip(gross, processes, strict=True)
        ]
        rss = [peak_rss_mb(p.popen.pid) for p in processes]
        held = [(stats(p.port) or {}).get("state_partitions") for p in processes]
    finally:
        for p in processes:
            stop(p.popen)
    return {
        "roles": roles,
        "gross_cpu_s": [round(c, 2) for c in gross],
        "gross_cpu_us_per_event": round(sum(gross) / total * 1e6, 2),
        "cpu_s": [round(c, 2) for c in cpu],
        "cpu_us_per_event": round(sum(cpu) / total * 1e6, 2),
        "peak_rss_mb": [round(r, 1) for r in rss],
        "wall_s_to_last_verdict": round(wall, 1),
        "verdicts": verdicts,
        "state_partitions_held": held,
        "prefix": prefix,
        "peak_waiting_events_sampled": peak_waiting,
        "peak_inputs_held_back_sampled": peak_held_back,
    }


def latency(trials: int, workers: int) -> tuple[float, float, int]:
    """p50 and p99 seconds from E passing to the verdict, coordinator + ``workers``."""
    prefix = f"lat{uuid.uuid4().hex[:6]}."
    sh("sellerwatch", "topics", "--topic-prefix", prefix, env=_env())
    fast = {"SELLERWATCH_IDLE_TIMEOUT_MS": "1500"}
    processes = [launch(prefix, "coordinator", 16620, "lat-coordinator", **fast)]
    processes += [
        launch(prefix, "partitions", 16621 + n, f"lat-p{n}", **fast) for n in range(workers)
    ]
    try:
        wait_ready(processes)
        time.sleep(12)  # the partition group settles
        found = asyncio.run(latency_trials(prefix, 16620, trials))
    finally:
        for p in processes:
            stop(p.popen)
    good = sorted(x for x in found if x == x)
    p50 = statistics.median(good) if good else float("nan")
    p99 = good[min(len(good) - 1, int(0.99 * len(good)))] if good else float("nan")
    return p50, p99, len(good)


def prepare(events: int) -> tuple[Path, int, int]:
    """Start the local broker; the file of the first ``events`` events of the large world,
    how many lines it has, and the W a live worker reaches once its inputs go idle (the last
    event's ts less the lateness)."""
    sh("bash", "deploy/local/up.sh")
    WORK.mkdir(parents=True, exist_ok=True)
    source = first_events(WORK / f"scale-{events}.jsonl", events, 3)
    total = sum(1 for _ in source.open("rb"))
    end_w = max(orjson.loads(line)["ts"] for line in source.open("rb")) - 5 * 60_000
    return source, total, end_w


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    source, total, end_w = prepare(args.events)
    counts = [int(x) for x in args.workers.split(",")]
    print(f"{total:,} events; start-up cost per role ...", flush=True)
    base = start_cost(["engine", "coordinator", "partitions"])
    print(f"  {base}", flush=True)
    deployments = [["engine"]] + [["coordinator"] + ["partitions"] * n for n in counts]
    every: list[list[dict[str, Any]]] = [[] for _ in deployments]
    for repeat in range(args.repeats):  # interleaved: the machine's drift hits every one alike
        for index, roles in enumerate(deployments):
            print(f"run {repeat + 1}: {' + '.join(roles)} ...", flush=True)
            result = run(source, total, end_w, roles, base)
            print(f"  {result}", flush=True)
            every[index].append(result)
    runs = [min(results, key=lambda r: r["cpu_us_per_event"]) for results in every]
    for run_, results in zip(runs, every, strict=True):
        run_["cpu_us_per_event_every_run"] = [r["cpu_us_per_event"] for r in results]
    p50, p99, good = latency(args.trials, max(counts))
    print(f"latency at {max(counts)} workers: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
    one = runs[1]
    summary: dict[str, Any] = {
        "machine": machine(),
        "events": total,
        "state_partitions": int(STATE_PARTITIONS),
        "base_per_role": {role: vars(b) for role, b in base.items()},
        "runs": runs,
        "latency_p50_ms": round(p50 * 1000),
        "latency_p99_ms": round(p99 * 1000),
        "latency_trials": good,
    }
    for run_ in runs[2:]:
        n = len(run_["roles"]) - 1
        summary[f"cpu_ratio_{n}_vs_1"] = round(
            run_["cpu_us_per_event"] / one["cpu_us_per_event"], 3
        )
        worker_base = base["partitions"].rss_mb
        top = max(run_["peak_rss_mb"][1:]) - worker_base
        summary[f"rss_ratio_{n}_vs_1"] = round(top / (one["peak_rss_mb"][1] - worker_base), 3)
    summary["cpu_ratio_1_worker_vs_engine"] = round(
        one["cpu_us_per_event"] / runs[0]["cpu_us_per_event"], 3
    )
    save_result("scale_out", summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

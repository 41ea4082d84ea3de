"""What watermark alignment (``SELLERWATCH_MAX_WAITING_EVENTS``, agents/read_ahead.py) saves, in
one run on the real broker (deploy/local/up.sh): the same topics read by an engine worker and by
a coordinator with 2 partition workers, each with alignment off (0), tight (20,000 records) and
at the default (200,000), interleaved; the most records that waited (``/stats/``, sampled).
Peak RSS of every process, CPU per event (net of start-up, as bench/scale_out.py), wall time to
the last verdict, and the verdict count (the same in every run).

    python -m bench.read_ahead [--events 500000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench.replay_throughput import machine, save_result
from bench.scale_out import prepare, run, start_cost

SETTINGS = {"off": "0", "20,000": "20000", "default 200,000": "200000"}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    source, total, end_w = prepare(args.events)
    print(f"{total:,} events; start-up cost per role ...", flush=True)
    base = start_cost(["engine", "coordinator", "partitions"])
    deployments = [["engine"], ["coordinator", "partitions", "partitions"]]
    every: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for repeat in range(args.repeats):
        for index, roles in enumerate(deployments):
            for label, value in SETTINGS.items():
                print(f"run {repeat + 1}: {' + '.join(roles)}, read-ahead {label} ...", flush=True)
                setting = {"SELLERWATCH_MAX_WAITING_EVENTS": value}
                result = run(source, total, end_w, roles, base, setting)
                print(f"  {result}", flush=True)
                every.setdefault((index, label), []).append(result)
    rows = []
    for (index, label), results in every.items():
        rows.append(
            {
                "deployment": " + ".join(deployments[index]),
                "read_ahead": label,
                # the first process reads the inputs: its peak over the runs, and the least CPU
                "reader_peak_rss_mb_every_run": [r["peak_rss_mb"][0] for r in results],
                "cpu_us_per_event_every_run": [r["cpu_us_per_event"] for r in results],
                "wall_s_every_run": [r["wall_s_to_last_verdict"] for r in results],
                "peak_waiting_events_every_run": [
                    r["peak_waiting_events_sampled"] for r in results
                ],
                "peak_held_back_every_run": [r["peak_inputs_held_back_sampled"] for r in results],
                "verdicts": sorted({r["verdicts"] for r in results}),
            }
        )
    summary = {"machine": machine(), "events": total, "rows": rows}
    save_result("read_ahead", summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

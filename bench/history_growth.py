"""What of a coordinator's state grows with history: a partitioned engine (in one process) over
a long world, its peak RSS and order directory every 2M events.

    python -m bench.history_growth [--days 172] [--partitions 2]

The order directory keeps an id's partition only within the order horizon (35 days) and then
only that it was paid, in a ``CompactIdSet`` (decisions #26): the ids within the horizon stay
flat once the world is longer than it, and the older ids cost their bytes and an offset.
Writes bench/results/history_growth.json.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import orjson

from bench.replay_throughput import generated, machine, save_result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=172)
    parser.add_argument("--partitions", type=int, default=2)
    args = parser.parse_args()
    from sellerwatch.runtime import tune_gc_for_engine
    from sellerwatch.schemas.validation import Rejected
    from sellerwatch.sources import read_records
    from sellerwatch.streams.partitioned import PartitionedEngine

    path = generated(args.days, 7)
    tune_gc_for_engine()
    engine = PartitionedEngine(partitions=args.partitions)
    rows = []
    started = time.perf_counter()
    for count, record in enumerate(read_records(str(path)), 1):
        decoded = record[0]
        if type(decoded) is Rejected:
            engine.reject(decoded)
        else:
            engine.accept(decoded)  # type: ignore[arg-type]
            engine.take_verdicts()
        if count % 2_000_000 == 0:
            directory = engine.placed
            before = getattr(directory, "before", None)  # a plain dict before session 12
            older = sum(len(d) + len(o) for d, o in before.runs) if before else 0
            rows.append(
                {
                    "events": count,
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                    "directory_ids_within_horizon": len(directory),
                    "older_ids_bytes": older,
                    "seconds": round(time.perf_counter() - started, 1),
                }
            )
            print(orjson.dumps(rows[-1]).decode(), file=sys.stderr, flush=True)
    result = {"machine": machine(), "file": path.name, "partitions": args.partitions, "rows": rows}
    save_result("history_growth", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Measure one replay in this process: ``python -m bench.measure FILE`` prints a JSON line.

Runs the same loop as ``sellerwatch replay`` (sources → engine → encoded verdicts) and samples the
number of open orders (orders held in the engine) every 50k records, so peak RSS can be divided
by the peak number of open orders. RSS is the process's peak resident set (``ru_maxrss``) minus
its resident set after imports.
"""

from __future__ import annotations

import resource
import sys
import time

import orjson


def rss_kb() -> int:
    """Current resident set size in KiB (Linux)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() // 1024


def measure(path: str) -> dict[str, float]:
    """Replay ``path``; return throughput and memory figures."""
    from sellerwatch.runtime import tune_gc_for_engine
    from sellerwatch.schemas.validation import Rejected
    from sellerwatch.schemas.verdict import encode
    from sellerwatch.sources import read_records
    from sellerwatch.streams.engine import Engine

    tune_gc_for_engine()  # as every driver does
    baseline = rss_kb()
    engine = Engine()
    accept, reject = engine.accept, engine.reject
    book = engine.state.book
    peak_open = 0
    verdicts = 0
    count = 0
    started = time.perf_counter()
    for record in read_records(path):
        decoded = record[0]
        if type(decoded) is Rejected:
            reject(decoded)
        else:
            accept(decoded)  # type: ignore[arg-type]
            if engine.verdicts:
                verdicts += sum(len(encode(v)) > 0 for v in engine.take_verdicts())
        count += 1
        if count % 50_000 == 0:
            peak_open = max(peak_open, len(book.orders))
    engine.finish()
    verdicts += len(engine.take_verdicts())
    seconds = time.perf_counter() - started
    peak_open = max(peak_open, len(book.orders))
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "events": count,
        "seconds": round(seconds, 3),
        "events_per_s": round(count / seconds),
        "peak_rss_mb": round(peak_rss / 1024, 1),
        "baseline_rss_mb": round(baseline / 1024, 1),
        "peak_open_orders": peak_open,
        "bytes_per_open_order": round((peak_rss - baseline) * 1024 / max(peak_open, 1)),
        "verdicts": verdicts,
    }


def parse_only(path: str) -> dict[str, float]:
    """orjson.loads of every line of the same file, and msgspec decode+validate of it."""
    from sellerwatch.schemas.validation import decode_event

    out = {}
    for name, parse in (("orjson_parse", orjson.loads), ("msgspec_decode", decode_event)):
        started = time.perf_counter()
        count = 0
        with open(path, "rb") as lines:
            for line in lines:
                parse(line)
                count += 1
        out[f"{name}_per_s"] = round(count / (time.perf_counter() - started))
    return out


if __name__ == "__main__":
    mode = sys.argv[1]
    result = measure(sys.argv[2]) if mode == "replay" else parse_only(sys.argv[2])
    sys.stdout.write(orjson.dumps(result).decode() + "\n")

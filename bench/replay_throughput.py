"""Issue 2's benchmark: replay events/s against orjson parse-only events/s of the same file.

    python -m bench.replay_throughput [--events 1000000] [FILE]

Generates ~1M events with ``sellerwatch generate --profile large`` unless a file is given, then
measures, each in a fresh process: orjson parse-only, msgspec decode+validate, and the replay.
Prints a Markdown table for BENCHMARKS.md and writes bench/results/replay_throughput.json.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results"
EVENTS_PER_DAY_LARGE = 58_000  # what the large profile makes per day, roughly


def generated(days: int, seed: int, *extra: str) -> Path:
    """A large-profile file of ``days`` days (plus generator flags), cached in bench/data."""
    suffix = "".join(x.strip("-") for x in extra)
    path = DATA / f"large-{days}d-seed{seed}{suffix}.jsonl"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        print(f"generating {path.name} ...", file=sys.stderr, flush=True)
        command = ["sellerwatch", "generate", "--profile", "large", "--seed", str(seed)]
        command += ["--days", str(days), *extra, "--out", str(path)]
        subprocess.run(command, check=True, capture_output=True)
    return path


def first_events(path: Path, events: int, seed: int) -> Path:
    """``path``, made once: the first ``events`` events of a generated large-profile file."""
    if not path.exists():
        full = generated(max(1, round(events / 66_000)), seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        with full.open("rb") as lines, path.open("wb") as out:
            for n, line in enumerate(lines):
                if n >= events:
                    break
                out.write(line)
    return path


def generate(events: int, seed: int = 1) -> Path:
    """A generated file of about ``events`` events."""
    return generated(max(1, round(events / EVENTS_PER_DAY_LARGE)), seed)


def run(mode: str, path: Path) -> dict[str, float]:
    """One measurement in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.measure", mode, str(path)],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return orjson.loads(out.stdout)


def save_result(name: str, summary: dict[str, Any]) -> None:
    """Write ``bench/results/<name>.json`` (indented) and print it."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = orjson.dumps(summary, option=orjson.OPT_INDENT_2)
    (RESULTS / f"{name}.json").write_bytes(text)
    print(text.decode())


def machine() -> str:
    """One line about this machine."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("file", nargs="?")
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    path = Path(args.file) if args.file else generate(args.events)
    parse = run("parse", path)
    replay = run("replay", path)
    ratio = replay["events_per_s"] / parse["orjson_parse_per_s"]
    result = {"file": str(path), "machine": machine(), **parse, **replay, "ratio": round(ratio, 3)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "replay_throughput.json").write_bytes(
        orjson.dumps(result, option=orjson.OPT_INDENT_2)
    )
    print(f"machine: {result['machine']}")
    print("| measure | value |\n|---|---|")
    print(f"| events in file | {replay['events']:,} |")
    print(f"| orjson parse-only | {parse['orjson_parse_per_s']:,} events/s |")
    print(f"| msgspec decode + validate only | {parse['msgspec_decode_per_s']:,} events/s |")
    print(f"| replay (end to end, one core) | {replay['events_per_s']:,} events/s |")
    print(f"| replay / parse-only | {ratio:.1%} (goal 30%) |")
    print(f"| peak open orders | {replay['peak_open_orders']:,} |")
    print(
        f"| peak RSS (baseline after imports) | {replay['peak_rss_mb']} MB "
        f"({replay['baseline_rss_mb']} MB) |"
    )
    print(f"| RSS per open order | {replay['bytes_per_open_order']} bytes (goal ≤ 300) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

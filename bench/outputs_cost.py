"""What ``--evidence`` and ``--warnings`` cost a replay (issue #10), side by side in one run.

    python -m bench.outputs_cost [--events 1000000] [--repeat 3] [FILE]

Each variant replays the same file (the large profile unless a file is given) in a fresh
interpreter, ``--repeat`` times, the variants interleaved; each variant's least CPU (user +
sys of the process) is kept, and its ratio to the plain replay reported, with the bytes it
wrote beside the verdicts. Writes bench/results/outputs_cost.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

from bench.replay_throughput import RESULTS, ROOT, generate, machine

VARIANTS: dict[str, list[str]] = {
    "plain": [],
    "evidence": ["--evidence"],
    "warnings": ["--warnings"],
    "both": ["--evidence", "--warnings"],
}


def child(path: str, variant: str) -> dict[str, float]:
    """One replay with the variant's outputs, each to a temporary file."""
    from sellerwatch.cli import main

    with tempfile.TemporaryDirectory() as folder:
        argv = ["replay", path, "--out", os.devnull]
        sizes: dict[str, str] = {}
        for flag in VARIANTS[variant]:
            sizes[flag] = str(Path(folder) / flag.strip("-"))
            argv += [flag, sizes[flag]]
        before = resource.getrusage(resource.RUSAGE_SELF)
        with open(os.devnull, "w") as quiet:
            stderr, sys.stderr = sys.stderr, quiet
            try:
                assert main(argv) == 0  # noqa: S101 - a benchmark of a working replay
            finally:
                sys.stderr = stderr
        after = resource.getrusage(resource.RUSAGE_SELF)
        written = sum(Path(p).stat().st_size for p in sizes.values())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu_s": cpu, "bytes": float(written)}


def main() -> int:
    """Run every variant ``--repeat`` times, interleaved; print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", nargs="?")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("FILE", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(orjson.dumps(child(*args.child)).decode())
        return 0
    path = Path(args.file).resolve() if args.file else generate(args.events)
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    for round_ in range(args.repeat):
        for variant in VARIANTS:
            out = subprocess.run(
                [sys.executable, "-m", "bench.outputs_cost", "--child", str(path), variant],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            runs[variant].append(orjson.loads(out))
            print(f"round {round_ + 1} {variant}: {runs[variant][-1]}", file=sys.stderr)
    best = {v: min(r, key=lambda m: m["cpu_s"]) for v, r in runs.items()}
    plain = best["plain"]["cpu_s"]
    print(f"machine: {machine()}; file: {path.name}")
    print("| outputs | CPU s (least of runs) | × plain | MB written beside the verdicts |")
    print("|---|---|---|---|")
    for variant, figures in best.items():
        print(
            f"| {variant} | {figures['cpu_s']:.2f} | {figures['cpu_s'] / plain:.2f} | "
            f"{figures['bytes'] / 1e6:.1f} |"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "outputs_cost.json").write_bytes(
        orjson.dumps({"machine": machine(), "file": path.name, "runs": runs, "best": best})
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

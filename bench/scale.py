"""Issue 3's scale benchmark: replay cost against input size, one run per size.

    python -m bench.scale [--sizes 0.3,1,3,10]      # millions of events

Each size is generated with the large profile (58k events a day, so the sizes span ~5 to ~170
days: before and well after the 31-day retention horizon) and replayed in a fresh process.
Reports events/s, peak RSS, open orders and RSS per open order; plots to bench/results/scale.png.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import orjson  # noqa: E402

from bench.replay_throughput import EVENTS_PER_DAY_LARGE, RESULTS, ROOT, generated, machine  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="0.3,1,3,10")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--plot-only", action="store_true", help="re-plot bench/results/scale.json")
    args = parser.parse_args()
    if args.plot_only:
        plot(orjson.loads((RESULTS / "scale.json").read_bytes())["rows"])
        return 0
    rows = []
    for millions in (float(x) for x in args.sizes.split(",")):
        days = max(1, round(millions * 1e6 / EVENTS_PER_DAY_LARGE))
        path = generated(days, 7)
        print(f"replaying {path.name} ...", file=sys.stderr, flush=True)
        out = subprocess.run(
            [sys.executable, "-m", "bench.measure", "replay", str(path)],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        row = {"days": days, **orjson.loads(out.stdout)}
        rows.append(row)
        print(orjson.dumps(row).decode(), flush=True)
        if not args.keep:
            path.unlink()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale.json").write_bytes(
        orjson.dumps({"machine": machine(), "rows": rows}, option=orjson.OPT_INDENT_2)
    )
    plot(rows)
    return 0


def plot(rows: list[dict[str, float]]) -> None:
    """Rate and time, memory and open orders, against events (log x); plus the Markdown table."""
    events = [r["events"] / 1e6 for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    rate = left.plot(
        events,
        [r["events_per_s"] / 1e3 for r in rows],
        "s-",
        color="tab:green",
        label="replay rate (thousand events/s)",
    )
    left.set_xscale("log")
    left.set_xlabel("events in the input (millions, log scale)")
    left.set_ylabel("replay rate (thousand events/s)", color="tab:green")
    left.set_ylim(0, max(r["events_per_s"] for r in rows) / 1e3 * 1.3)
    twin = left.twinx()
    took = twin.plot(
        events, [r["seconds"] for r in rows], "o--", color="tab:blue", label="replay time (s)"
    )
    twin.set_ylabel("replay time (seconds)", color="tab:blue")
    left.legend(handles=rate + took, loc="upper center")
    left.set_title("Replay rate and time against input size")
    rss = right.plot(
        events, [r["peak_rss_mb"] for r in rows], "o-", color="tab:blue", label="peak RSS (MB)"
    )
    right.set_xscale("log")
    right.set_xlabel("events in the input (millions, log scale)")
    right.set_ylabel("peak RSS (MB)", color="tab:blue")
    twin_r = right.twinx()
    open_orders = twin_r.plot(
        events,
        [r["peak_open_orders"] / 1e3 for r in rows],
        "s--",
        color="tab:orange",
        label="peak open orders (thousands)",
    )
    twin_r.set_ylabel("peak open orders (thousands)", color="tab:orange")
    right.legend(handles=rss + open_orders, loc="lower right")
    right.set_title("Peak memory follows open orders (31-day horizon)")
    fig.tight_layout()
    fig.savefig(RESULTS / "scale.png", dpi=90)
    print(
        "| events | days | seconds | events/s | peak RSS MB | peak open orders | bytes/open order |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['events']:,} | {r['days']} | {r['seconds']} | {r['events_per_s']:,} | "
            f"{r['peak_rss_mb']} | {r['peak_open_orders']:,} | {r['bytes_per_open_order']} |"
        )


if __name__ == "__main__":
    if sys.argv[1:] == ["--plot-only"]:  # redraw from bench/results/scale.json
        plot(orjson.loads((RESULTS / "scale.json").read_bytes())["rows"])
        raise SystemExit(0)
    raise SystemExit(main())

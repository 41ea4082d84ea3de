"""The shared multi-week workload of the integration tests, and its replay verdicts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson

from sellerwatch.schemas.validation import Rejected, decode_event
from sellerwatch.streams.calendar import Calendar


def make_workload(path: Path, seed: int = 5, *extra: str) -> Path:
    """A generated small marketplace (every verdict kind) plus a closing tick.

    The tick, at local noon of the day after the last event, lets a live worker (whose
    watermark stops at ``max_ts - L`` once the partitions go idle) reach the same evaluation
    instants as the replay (which ends at ``max_ts``): no midnight lies within L before noon.
    """
    subprocess.run(
        [
            "sellerwatch",
            "generate",
            "--profile",
            "small",
            "--seed",
            str(seed),
            "--out",
            str(path),
            *extra,
        ],
        check=True,
        capture_output=True,
    )
    last_ts = max(
        event.ts
        for line in path.read_bytes().splitlines()
        if line.strip() and not isinstance(event := decode_event(line), Rejected)
    )
    calendar = Calendar()
    tick_ts = calendar.at(calendar.day_of(last_ts) + 1, 12, 0)
    tick = {
        "type": "enrollment",
        "event_id": "closing-tick",
        "ts": tick_ts,
        "shop_id": "__tick__",
        "action": "cancel",
    }
    with path.open("ab") as out:
        out.write(orjson.dumps(tick) + b"\n")
    return path


def replay_verdicts(path: Path, out: Path) -> list[bytes]:
    """Verdict lines of ``sellerwatch replay`` on a file."""
    subprocess.run(
        ["sellerwatch", "replay", str(path), "--out", str(out)], check=True, capture_output=True
    )
    return [line for line in out.read_bytes().splitlines() if line.strip()]


def records_in(path: Path) -> int:
    """The records of a workload file (its closing tick included)."""
    return sum(1 for line in path.read_bytes().splitlines() if line.strip())


def tick_ts(path: Path) -> int:
    """The closing tick's ts: a worker is done once W reaches it less the lateness."""
    return int(orjson.loads(path.read_bytes().splitlines()[-1])["ts"])

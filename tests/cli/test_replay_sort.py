"""``replay --sort``: an unsorted history is replayed as the sorted one; without it, a warning."""

from __future__ import annotations

import gzip
import random
import subprocess
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample.jsonl.gz"


def _replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sellerwatch", "replay", *args], capture_output=True, text=True)


def test_an_unsorted_history_warns_and_sort_gives_the_sorted_verdicts(tmp_path: Path) -> None:
    lines = [line for line in gzip.open(SAMPLE).read().splitlines() if line.strip()]
    random.Random(3).shuffle(lines)
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_bytes(b"\n".join(lines) + b"\n")

    plain = _replay(str(shuffled), "--out", str(tmp_path / "plain.jsonl"))
    assert plain.returncode == 0
    assert "of the records were late" in plain.stderr and "--sort" in plain.stderr

    ordered = _replay(str(SAMPLE), "--out", str(tmp_path / "ordered.jsonl"))
    resorted = _replay("--sort", str(shuffled), "--out", str(tmp_path / "sorted.jsonl"))
    assert resorted.returncode == 0 and "--sort" not in resorted.stderr
    assert (tmp_path / "sorted.jsonl").read_bytes() == (tmp_path / "ordered.jsonl").read_bytes()
    assert "warning" not in ordered.stderr

"""The hostile corpus on the real broker: ``sellerwatch produce``, then ``backtest
--from-topics`` and a live worker (``--stop-at-end``). Nothing crashes, the books balance and
every bad record is dead-lettered with its reason."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from sellerwatch.schemas.validation import Rejected, decode_event
from tests.hostile.cases import all_cases
from tests.integration.conftest import ROOT, Worker, read_topics, run_cli, wait_for

pytestmark = pytest.mark.integration

#: A form feed is blank to ``produce`` (``bytes.strip``) but a record to ``replay``; the gz
#: cases are file formats, not records.
_SKIP = {"form-feed-line"}


def _corpus(tmp_path: Path) -> tuple[Path, list[bytes]]:
    """Every small record case in one file, and its non-blank lines as produced."""
    data = b"".join(
        c.data if c.data.endswith(b"\n") or not c.data else c.data + b"\n"
        for c in all_cases()
        if not c.large and not c.gz and c.name not in _SKIP
    )
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(data)
    lines = [raw.rstrip(b"\r\n") for raw in data.split(b"\n")]
    return path, [raw for raw in lines if raw.strip()]


class StopAtEndWorker(Worker):
    """A worker that treats the input it finds at start as the whole input."""

    def _spawn(self, log: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                "sellerwatch", "worker", "--topic-prefix", self.prefix,
                "--web-port", str(self.port), "--loglevel", "warning", "--stop-at-end",
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )  # fmt: skip


#: A small record limit, so that the corpus's long lines are ``too_large`` on Kafka too (a
#: broker refuses records over 1 MiB, the default limit, before any worker could see them).
MAX_RECORD_BYTES = 4096


def _decode_reasons(lines: list[bytes]) -> Counter[str]:
    decoded = (decode_event(raw, MAX_RECORD_BYTES) for raw in lines)
    return Counter(r.reason for r in decoded if isinstance(r, Rejected))


@pytest.fixture
def worker(prefix: str, tmp_path: Path) -> Iterator[StopAtEndWorker]:
    """One live worker with ``--stop-at-end``, started once the corpus is in its topics."""
    port = 16900 + os.getpid() % 90
    policy = tmp_path / "small-records.toml"
    policy.write_text(f"max_record_bytes = {MAX_RECORD_BYTES}\n")
    made = StopAtEndWorker(
        prefix, "h", port, tmp_path / "worker.log",
        SELLERWATCH_REDIS_URL="", SELLERWATCH_POLICY=str(policy),
    )  # fmt: skip
    yield made
    made.stop()


def test_the_corpus_through_produce_backtest_and_a_live_worker(
    prefix: str, worker: StopAtEndWorker, tmp_path: Path
) -> None:
    path, lines = _corpus(tmp_path)
    assert 200 <= len(lines) <= 1000
    expected = _decode_reasons(lines)
    assert expected["too_large"] >= 3 and expected["not_json"] >= 30
    run_cli("produce", "--topic-prefix", prefix, str(path))
    worker.start()

    def books() -> dict[str, int] | None:
        stats = worker.stats()
        return stats["accounting"] if stats and stats.get("accounting") else None

    wait_for(lambda: (books() or {}).get("in", 0) >= len(lines), 180, "the worker's books")
    live = books()
    assert live is not None and live["in"] == len(lines)
    assert live["in"] == live["applied"] + live["duplicate"] + live["late"] + live["rejected"]
    wait_for(
        lambda: len(read_topics([prefix + "sellerwatch.dead-letter"])) >= live["rejected"],
        60,
        "the dead letters",
    )
    letters = read_topics([prefix + "sellerwatch.dead-letter"])
    assert len(letters) == live["rejected"]
    reasons = Counter(dict(h)["reason"].decode() for _, _, _, h in letters)
    assert reasons - Counter({"second_payment": reasons["second_payment"]}) == expected
    assert {value for _, _, value, _ in letters} <= set(lines)
    assert worker.process is not None and worker.process.poll() is None, "the worker died"

    out = tmp_path / "backtest.jsonl"
    policy = worker.env["SELLERWATCH_POLICY"]
    done = run_cli(
        "backtest", "--from-topics", "--topic-prefix", prefix, "--policy", policy, "--out", str(out)
    )
    assert "Traceback" not in done.stderr
    summary = orjson.loads(done.stderr.strip().splitlines()[-1].removeprefix("backtest: "))
    assert summary["in"] == len(lines)
    assert summary["in"] == (
        summary["applied"] + summary["duplicate"] + summary["late"] + summary["rejected"]
    )
    by_reason = Counter(summary["rejected_by_reason"])
    assert by_reason - Counter({"second_payment": by_reason["second_payment"]}) == expected

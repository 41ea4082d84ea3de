"""``sellerwatch backtest --from-topics``: replay historical topics through the core, then stop.

A fresh reader takes every input partition from its earliest offset up to the end offsets seen
at start; each partition is its own watermark input and is finished when read to its end, and
when all are, the input is finished (SPEC §1.1: ``W = max_ts_seen``). Nothing is committed, so
any number of backtests can run beside the live worker.

When retention has already deleted the start of the inputs, the first verdicts read windows
with a hole at their beginning: the run says so on stderr (:func:`retention_warning`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO

from sellerwatch.agents.history import Assigned, Ended, HistoryReader, Records
from sellerwatch.agents.settings import DAY_MS, longest_window_ms
from sellerwatch.replay import write_records
from sellerwatch.streams.engine import Engine
from sellerwatch.streams.policy import Policy


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")


async def backtest(
    bootstrap: str,
    prefix: str,
    out: IO[bytes],
    policy: Policy | None = None,
    warn: Callable[[str], None] = _stderr,
    evidence: IO[bytes] | None = None,
    warnings: IO[bytes] | None = None,
) -> Engine:
    """Run the topics' history through a fresh engine; verdicts go to ``out`` as JSONL, the
    orders behind each to ``evidence`` and early warnings to ``warnings`` when given."""
    policy = policy or Policy()
    engine = Engine(
        policy, collect_evidence=evidence is not None, collect_warnings=warnings is not None
    )
    reader = HistoryReader(bootstrap, prefix)
    async for step in reader.steps():
        if step is None:
            _write(out, engine, evidence, warnings)
        elif type(step) is Records:
            source, accept_raw = step.source, engine.accept_raw
            for value in step.values:
                accept_raw(value, source)
        elif type(step) is Ended:
            engine.finish_partition(step.source)
        elif type(step) is Assigned:
            engine.assign(step.sources)
    engine.finish()
    _write(out, engine, evidence, warnings)
    message = retention_warning(reader.truncated, reader.earliest, engine.watermark, policy)
    if message:
        warn(message)
    return engine


def retention_warning(
    truncated: bool, earliest_ts: int | None, watermark: int | None, policy: Policy
) -> str | None:
    """A warning when retention deleted records and what is left is shorter than a window.

    ``truncated``: some input partition no longer starts at offset 0. The policy's longest
    window (``agents.settings.longest_window_ms``) is what a verdict may read back.
    """
    if not truncated or earliest_ts is None or watermark is None:
        return None
    window = longest_window_ms(policy)
    held = watermark - earliest_ts
    if held >= window:
        return None

    def day(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")

    return (
        f"backtest: warning: the input topics hold only {held / DAY_MS:.1f} days "
        f"({day(earliest_ts)} to {day(watermark)}; older records were deleted by retention), "
        f"but the policy's rules read {window // DAY_MS} days: verdicts may differ from a "
        "replay of the full history (raise SELLERWATCH_INPUT_RETENTION, docs/operations.md)"
    )


def _write(
    out: IO[bytes], engine: Engine, evidence: IO[bytes] | None, warnings: IO[bytes] | None
) -> None:
    write_records(out, engine.take_verdicts())
    if evidence is not None:
        write_records(evidence, engine.take_evidence())
    if warnings is not None:
        write_records(warnings, engine.take_warnings())

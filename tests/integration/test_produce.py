"""``sellerwatch produce`` with a line Kafka cannot take: dead-lettered by the loader, the rest
loaded, no traceback."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from sellerwatch.agents.outputs import DIVERTED_BYTES_MAX
from tests.builders import as_json, payment
from tests.integration.conftest import read_topics, run_cli

pytestmark = pytest.mark.integration


def test_a_line_over_kafkas_message_size_is_dead_lettered_and_the_rest_loaded(
    prefix: str, tmp_path: Path
) -> None:
    huge = b"y" * 9_000_000  # over every topic's 8 MiB
    first, second = payment("O1", "2024-06-01 10:00"), payment("O2", "2024-06-01 11:00")
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([as_json(first), huge, as_json(second)]) + b"\n")
    result = run_cli("produce", "--topic-prefix", prefix, str(path))
    assert (
        f"{path} line 2: 9,000,000 bytes (with its key) is over the message size" in result.stderr
    )
    assert "Traceback" not in result.stderr
    payments = read_topics([f"{prefix}payments"])
    assert sorted(orjson.loads(v)["order_id"] for _, _, v, _ in payments) == ["O1", "O2"]
    [(_, _, value, headers)] = read_topics([f"{prefix}sellerwatch.dead-letter"])
    found = dict(headers)
    assert value == huge[:DIVERTED_BYTES_MAX]
    assert found["reason"] == b"too_large" and found["truncated_from"] == b"9000000"
    assert (found["source_file"], found["source_line"]) == (str(path).encode(), b"2")

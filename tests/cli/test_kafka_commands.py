"""The Kafka sub-commands without a broker (issue #12): an unreachable Kafka or Redis, or an
unwritable ``--out``, is one line naming the setting and exit 2, in bounded time; ``topics``
and ``produce`` honour ``SELLERWATCH_INPUT_PARTITIONS``; ``backtest`` needs no ``--from-topics``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sellerwatch.agents import cli as agents_cli
from sellerwatch.agents import produce as agents_produce
from sellerwatch.agents import topics as agents_topics
from sellerwatch.agents.kafka_security import KafkaAccessError
from sellerwatch.agents.settings import SettingsError
from sellerwatch.cli import main

DEAD = "localhost:1"  # nothing listens on port 1
SAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "sample.jsonl.gz")


def _fails_in_one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    started = time.monotonic()
    assert main(argv) == 2
    assert time.monotonic() - started < agents_cli.REACH_TIMEOUT_S + 5
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("sellerwatch: error: ")
    assert captured.out == ""
    return lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["topics"],
        ["produce", SAMPLE],
        ["backtest", "--out", "{tmp}/v.jsonl"],
        ["backtest", "--from-topics", "--out", "{tmp}/v.jsonl"],
    ],
    ids=["topics", "produce", "backtest", "backtest --from-topics"],
)
def test_a_dead_broker_is_one_line_naming_the_setting(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    line = _fails_in_one_line(capsys, [*argv, "--bootstrap", DEAD])
    assert f"cannot reach Kafka at {DEAD}" in line
    assert "SELLERWATCH_BOOTSTRAP / --bootstrap" in line
    assert not (tmp_path / "v.jsonl").exists()


def test_the_bootstrap_variable_is_what_the_message_names(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SELLERWATCH_BOOTSTRAP", DEAD)
    assert f"cannot reach Kafka at {DEAD}" in _fails_in_one_line(capsys, ["topics"])


def test_a_failed_backtest_keeps_the_previous_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "v.jsonl"
    out.write_text("previous\n")
    _fails_in_one_line(capsys, ["backtest", "--out", str(out), "--bootstrap", DEAD])
    assert out.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["v.jsonl"]


def test_an_unwritable_backtest_output_fails_before_the_broker(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = _fails_in_one_line(capsys, ["backtest", "--out", "/nonexistent/x", "--bootstrap", DEAD])
    assert line == "sellerwatch: error: cannot write /nonexistent/x: No such file or directory"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://localhost:1/0", "redis://localhost:1/0"),
        ("redis://me:s3cret@localhost:1/0", "redis://me:***@localhost:1/0"),
    ],
)
def test_a_dead_redis_is_one_line_naming_the_setting(
    url: str, shown: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _fails_in_one_line(capsys, ["status", "--redis", url, "S00001"])
    assert f"cannot reach Redis at {shown} (check SELLERWATCH_REDIS_URL / --redis)" in line
    assert "s3cret" not in line


def test_a_bad_redis_url_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SELLERWATCH_REDIS_URL", "localhost:6379")
    line = _fails_in_one_line(capsys, ["status", "S00001"])
    assert "bad Redis URL 'localhost:6379' (check SELLERWATCH_REDIS_URL / --redis)" in line


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung broker or Redis)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def test_a_broker_that_never_answers_is_given_up_on_at_the_deadline(silent_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(KafkaAccessError) as failed:
        agents_cli.reach_kafka(f"127.0.0.1:{silent_port}", timeout_s=1)
    assert time.monotonic() - started < 5
    assert "SELLERWATCH_BOOTSTRAP / --bootstrap" in str(failed.value)


def test_a_redis_that_never_answers_is_given_up_on_at_the_deadline(silent_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(SettingsError) as failed:
        agents_cli.reach_redis(f"redis://127.0.0.1:{silent_port}/0", timeout_s=1)
    assert time.monotonic() - started < 5
    assert "SELLERWATCH_REDIS_URL / --redis" in str(failed.value)


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record the topic creations instead of talking to a broker (unit test)."""
    calls: list[dict[str, Any]] = []

    async def ensure_topics(bootstrap: str, topics: Any, input_partitions: int = 4) -> None:
        calls.append({"bootstrap": bootstrap, "prefix": topics.prefix, "input": input_partitions})

    async def produce_files(bootstrap: str, prefix: str, files: list[str]) -> dict[str, int]:
        return {f"{prefix}payments": 1}

    monkeypatch.setattr(agents_cli, "reach_kafka", lambda bootstrap: None)
    monkeypatch.setattr(agents_topics, "ensure_topics", ensure_topics)
    monkeypatch.setattr(agents_produce, "produce_files", produce_files)
    return calls


@pytest.mark.parametrize("argv", [["topics"], ["produce", SAMPLE]], ids=["topics", "produce"])
def test_input_partitions_come_from_the_environment(
    argv: list[str],
    created: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SELLERWATCH_INPUT_PARTITIONS", "12")
    assert main([*argv, "--topic-prefix", "p.", "--bootstrap", "broker:9092"]) == 0
    assert created == [{"bootstrap": "broker:9092", "prefix": "p.", "input": 12}]
    if argv == ["topics"]:
        assert "new input topics: 12 partitions" in capsys.readouterr().err


def test_input_partitions_default_to_four(
    created: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SELLERWATCH_INPUT_PARTITIONS", raising=False)
    assert main(["topics"]) == 0
    assert created[0]["input"] == 4


def test_a_bad_input_partitions_value_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SELLERWATCH_INPUT_PARTITIONS", "four")
    line = _fails_in_one_line(capsys, ["topics"])
    assert "SELLERWATCH_INPUT_PARTITIONS must be a number" in line

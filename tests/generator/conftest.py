"""Fixtures of the generator tests: run ``sellerwatch generate`` / ``replay`` in-process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from sellerwatch.cli import main


def run(*argv: str) -> None:
    """Run the command line in-process; fail on a non-zero exit."""
    code = main(list(argv))
    assert code == 0, f"sellerwatch {' '.join(argv)} exited {code}"


def lines(path: Path) -> list[bytes]:
    """Non-blank lines of a JSONL file."""
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def verdicts(path: Path) -> list[dict[str, object]]:
    """Verdict records of a verdicts JSONL file."""
    return [orjson.loads(line) for line in lines(path)]


@pytest.fixture
def generate(tmp_path: Path) -> Callable[..., Path]:
    """``generate(*options, name=...)``: a generated JSONL file in the test's directory."""

    def make(*options: str, name: str = "events.jsonl") -> Path:
        out = tmp_path / name
        run("generate", *options, "--out", str(out))
        return out

    return make


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small profile, seed 1 (what ``examples/sample.jsonl.gz`` holds)."""
    out = tmp_path_factory.mktemp("small") / "small.jsonl"
    run("generate", "--profile", "small", "--seed", "1", "--out", str(out))
    return out


@pytest.fixture(scope="session")
def small_verdicts(small: Path) -> Path:
    """The replay's verdicts on :func:`small`."""
    out = small.with_name("verdicts.jsonl")
    run("replay", str(small), "--out", str(out))
    return out

"""``compare --from-topics``: two policies over the topics' history equal the same on the file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sellerwatch.cli import main
from tests.integration.conftest import run_cli
from tests.integration.workload import make_workload

pytestmark = pytest.mark.integration
DEFAULT = Path(__file__).resolve().parents[2] / "sellerwatch" / "policies" / "default.toml"


def test_compare_from_topics_equals_compare_of_the_file(
    new_prefix: Callable[[str], str], tmp_path: Path
) -> None:
    path = make_workload(tmp_path / "events.jsonl")
    prefix = new_prefix("cmp")
    run_cli("produce", "--topic-prefix", prefix, str(path))
    strict = tmp_path / "min10.toml"
    strict.write_text('name = "min10"\n[ship48_pickup24]\nmin_orders = 10\n')
    policies = ["--policy", str(DEFAULT), "--policy", str(strict)]
    files, topics = tmp_path / "files", tmp_path / "topics"
    assert main(["compare", *policies, str(path), "--report", str(files)]) == 0
    source = ["--from-topics", "--topic-prefix", prefix]
    run_cli("compare", *policies, *source, "--report", str(topics))
    for name in ("diff.jsonl", "summary.json"):
        assert (topics / name).read_bytes() == (files / name).read_bytes(), name
    assert (files / "diff.jsonl").read_bytes()  # the two policies do differ here


def test_compare_refuses_files_and_topics_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strict = tmp_path / "min10.toml"
    strict.write_text('name = "min10"\n')
    argv = ["compare", "--policy", str(DEFAULT), "--policy", str(strict), str(DEFAULT)]
    assert main([*argv, "--from-topics", "--report", str(tmp_path / "r")]) == 2
    assert "INPUT files or --from-topics, one of the two" in capsys.readouterr().err

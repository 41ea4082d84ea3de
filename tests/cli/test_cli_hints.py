"""The hints a new user needs (issue #12): --version, the environment in --help, and why a
replay decided nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from sellerwatch.cli import main


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("sellerwatch 0.")


def test_help_lists_the_environment_and_its_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name, default in (
        ("SELLERWATCH_BOOTSTRAP", "localhost:9092"),
        ("SELLERWATCH_REDIS_URL", "redis://localhost:6379/0"),
        ("SELLERWATCH_INPUT_PARTITIONS", "4"),
        ("SELLERWATCH_IDLE_TIMEOUT_MS", "10000"),
    ):
        line = next(x for x in out.splitlines() if x.strip().startswith(name + " "))
        assert f"[{default}]" in line
    assert "SELLERWATCH_KAFKA_*" in out and "docs/operations.md" in out


def test_three_days_say_what_was_evaluated_and_why_nothing_was_decided(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "g.jsonl"
    assert main(["generate", "--seed", "7", "--days", "3", "--out", str(events)]) == 0
    capsys.readouterr()
    assert main(["replay", str(events), "--out", str(tmp_path / "v.jsonl")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].endswith("(balanced)")
    assert "verdicts 0: none" in err
    assert any(
        x.startswith(
            "evaluated 2024-06-02–2024-06-03 (2 days, Asia/Shanghai); watermark ended at 2024-06-03"
        )
        for x in err
    ), err
    why = next(x for x in err if x.startswith("no verdicts:"))
    assert "Monday + 9 days" in why and "T−4" in why


def test_no_applied_record_says_the_watermark_never_started(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "bad.jsonl"
    events.write_bytes(b"{oops\n[1]\n")
    assert main(["replay", str(events), "--out", str(tmp_path / "v.jsonl")]) == 0
    err = capsys.readouterr().err
    assert "records in 2: applied 0, duplicate 0, late 0, rejected 2 (balanced)" in err
    assert "evaluated nothing: no record was applied" in err

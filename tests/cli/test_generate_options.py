"""``sellerwatch generate``: every option bounded, and ``--out`` whole or absent."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from sellerwatch.cli import main
from sellerwatch.generator.pipeline import Generator

BASE = ["generate", "--seed", "1", "--days", "2"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "1990-01-01"], "outside 2000-01-01..2099-12-31"),
        (["--start", "2099-12-20"], "outside 2000-01-01..2099-12-31"),
        (["--tz", "Asia"], "--tz: unknown time zone 'Asia'"),
        (["--tz", ""], "--tz: unknown time zone"),
        (["--shops", "1000000000"], "--shops must be in 1..100,000"),
        (["--shops", "0"], "--shops must be in"),
        (["--days", "100000"], "--days must be in 1..1,000"),
        (["--orders-per-day", "-1"], "--orders-per-day must be in"),
        (["--items-per-shop", "5000"], "--items-per-shop must be in"),
        (["--bad-rate", "1.5"], "--bad-rate must be in 0.0..1.0"),
        (["--dup-rate", "nan"], "--dup-rate must be in"),
        (["--shuffle-ms", "-5"], "--shuffle-ms must be in"),
    ],
)
def test_an_option_out_of_range_is_a_one_line_error_and_writes_nothing(
    tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "g.jsonl"
    assert main([*BASE, "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sellerwatch: error:") and err.count("\n") == 1, err
    assert message in err
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    assert main([*BASE, "--out", "/dev/full"]) == 2
    err = capsys.readouterr().err
    assert err == "sellerwatch: error: cannot write /dev/full: No space left on device\n"


def test_a_failure_half_way_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "g.jsonl.gz"
    out.write_bytes(b"the old workload")
    original = Generator.batches

    def failing(self: Generator):  # type: ignore[no-untyped-def]
        for n, batch in enumerate(original(self)):
            if n == 1:
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(Generator, "batches", failing)
    assert main([*BASE, "--out", str(out)]) == 130
    assert out.read_bytes() == b"the old workload"
    assert [p.name for p in tmp_path.iterdir()] == ["g.jsonl.gz"]


def test_a_successful_run_replaces_the_file_with_a_readable_gzip(tmp_path: Path) -> None:
    out = tmp_path / "g.jsonl.gz"
    out.write_bytes(b"old")
    assert main([*BASE, "--out", str(out)]) == 0
    assert gzip.decompress(out.read_bytes()).startswith(b'{"type":')
    assert [p.name for p in tmp_path.iterdir()] == ["g.jsonl.gz"]

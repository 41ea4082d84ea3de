"""``scripts/olist_report.py``: the data path is an argument, a missing file is one line and
exit 2, and the picture goes where ``--out`` says, never over the tracked docs/img one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "olist_report.py"
TRACKED = ROOT / "docs" / "img" / "olist_findings.png"


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_a_missing_data_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "events.jsonl.gz"
    result = _run(str(missing))
    assert result.returncode == 2
    assert result.stderr == (
        f"olist_report: error: cannot read the events file {missing} "
        "(see docs/olist.md for the data)\n"
    )
    assert result.stdout == ""


def test_the_data_path_is_required() -> None:
    result = _run()
    assert result.returncode == 2
    assert "the following arguments are required: events" in result.stderr


def test_the_picture_goes_to_out_and_the_tracked_one_is_left_alone(tmp_path: Path) -> None:
    before = TRACKED.read_bytes()
    picture = tmp_path / "pictures" / "findings.png"
    result = _run(str(ROOT / "examples" / "sample.jsonl.gz"), "--out", str(picture))
    assert result.returncode == 0, result.stderr
    assert picture.read_bytes().startswith(b"\x89PNG")
    assert "verdicts: {'delist': 6, 'fine': 3, 'incentive': 1" in result.stdout
    assert f"picture: {picture}" in result.stdout
    assert TRACKED.read_bytes() == before


def test_the_default_picture_is_under_out(tmp_path: Path) -> None:
    result = _run(str(ROOT / "examples" / "sample.jsonl.gz"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "olist_findings.png").is_file()

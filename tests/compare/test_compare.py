"""``sellerwatch compare``: the same as two replays diffed, a day range, a report that renders."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest

from sellerwatch.compare import compare, write_report
from sellerwatch.streams.calendar import Calendar
from sellerwatch.streams.policy import Policy, load_policy

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "sample.jsonl.gz"


def _policy(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\n{body}')
    return path


def _replay(path: Path, policy: Path, out: Path) -> dict[str, dict[str, object]]:
    subprocess.run(
        ["sellerwatch", "replay", str(path), "--policy", str(policy), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    verdicts = [orjson.loads(line) for line in out.read_bytes().splitlines() if line.strip()]
    return {v["verdict_id"]: v for v in verdicts}


def _without_policy(verdict: dict[str, object] | None) -> dict[str, object] | None:
    return None if verdict is None else {k: v for k, v in verdict.items() if k != "policy"}


@pytest.fixture(scope="module")
def faulty_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("world") / "faulty.jsonl"
    subprocess.run(
        [
            "sellerwatch",
            "generate",
            "--profile",
            "small",
            "--seed",
            "11",
            "--days",
            "30",
            "--dup-rate",
            "0.02",
            "--late-rate",
            "0.01",
            "--bad-rate",
            "0.01",
            "--shuffle-ms",
            "120000",
            "--out",
            str(path),
        ],
        check=True,
        capture_output=True,
    )
    return path


@pytest.mark.parametrize("world", ["sample", "faulty"])
def test_compare_equals_two_replays_diffed(world: str, faulty_world: Path, tmp_path: Path) -> None:
    history = SAMPLE if world == "sample" else faulty_world
    a = ROOT / "sellerwatch" / "policies" / "default.toml"
    b = _policy(
        tmp_path,
        "strict",
        "[ship48_pickup24]\nmin_orders = 3\nmax_rate = 0.95\n[pickup48]\ntag_above = 0.9\n",
    )
    by_a = _replay(history, a, tmp_path / "a.jsonl")
    by_b = _replay(history, b, tmp_path / "b.jsonl")
    expected = {}
    for verdict_id in by_a.keys() | by_b.keys():
        left, right = by_a.get(verdict_id), by_b.get(verdict_id)
        if _without_policy(left) != _without_policy(right):
            expected[verdict_id] = (left, right)
    assert expected, "the two policies should differ somewhere"

    comparison = compare([str(history)], load_policy(a), load_policy(b))
    got = {entry["verdict_id"]: (entry["a"], entry["b"]) for entry in comparison.diff}
    assert got == expected
    assert len(comparison.a.verdicts) == len(by_a) and len(comparison.b.verdicts) == len(by_b)
    summary = comparison.summary()
    assert summary["a"]["verdicts"] == len(by_a)
    assert summary["diff"]["same"] + summary["diff"]["changed"] == len(by_a.keys() & by_b.keys())


def test_since_until_keep_the_full_runs_verdicts_of_those_days(tmp_path: Path) -> None:
    b = _policy(tmp_path, "strict", "[ship48_pickup24]\nmin_orders = 3\n")
    full = compare([str(SAMPLE)], Policy(), load_policy(b))
    days = sorted({v.period for v in full.a.verdicts.values() if v.rule != "same_day_ship"})
    since, until = days[len(days) // 3], days[2 * len(days) // 3]
    part = compare(
        [str(SAMPLE)],
        Policy(),
        load_policy(b),
        since=Calendar.ordinal(since),
        until=Calendar.ordinal(until),
    )
    calendar = Policy().calendar()

    def in_range(decided_at: int) -> bool:
        return since <= Calendar.iso(calendar.day_of(decided_at)) <= until

    for whole, kept in ((full.a, part.a), (full.b, part.b)):
        assert kept.verdicts == {k: v for k, v in whole.verdicts.items() if in_range(v.decided_at)}
        assert kept.verdicts


def test_the_command_writes_the_three_files_and_a_one_line_summary(tmp_path: Path) -> None:
    b = _policy(tmp_path, "min10", "[ship48_pickup24]\nmin_orders = 10\n")
    result = subprocess.run(
        [
            "sellerwatch",
            "compare",
            "--policy",
            str(ROOT / "sellerwatch/policies/default.toml"),
            "--policy",
            str(b),
            str(SAMPLE),
            "--report",
            str(tmp_path / "report"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "only A" in result.stderr
    for name in ("diff.jsonl", "summary.json", "report.html"):
        assert (tmp_path / "report" / name).stat().st_size > 0
    summary = orjson.loads((tmp_path / "report" / "summary.json").read_bytes())
    assert summary["a"]["policy"] == "default" and summary["b"]["policy"] == "min10"


def test_two_policies_of_one_name_are_refused(tmp_path: Path) -> None:
    a = ROOT / "sellerwatch" / "policies" / "default.toml"
    result = subprocess.run(
        [
            "sellerwatch",
            "compare",
            "--policy",
            str(a),
            "--policy",
            str(a),
            str(SAMPLE),
            "--report",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "distinct names" in result.stderr


@pytest.mark.skipif(
    shutil.which("chromium") is None and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (scripts/setup.sh installs it; CI requires it)",
)
def test_the_report_renders_in_a_real_browser_with_every_plot(tmp_path: Path) -> None:
    from PIL import Image, ImageStat

    b = _policy(tmp_path, "min10", "[ship48_pickup24]\nmin_orders = 10\n")
    comparison = compare([str(SAMPLE)], Policy(), load_policy(b))
    html_path = [p for p in write_report(comparison, tmp_path / "r") if p.suffix == ".html"][0]
    shot = tmp_path / "report.png"
    result = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1200,6000",
            "--enable-logging=stderr",
            "--v=0",
            f"--screenshot={shot}",
            html_path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.exists(), result.stderr[-2000:]
    assert "CONSOLE" not in result.stderr and "Uncaught" not in result.stderr
    page = Image.open(shot).convert("L")
    assert ImageStat.Stat(page).stddev[0] > 10, "the screenshot is blank"
    # every plot is an inline PNG that decodes to a picture with content
    import base64
    import io
    import re

    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html_path.read_text())
    assert len(images) >= 7  # verdicts per day, four rules, two delay distributions
    for data in images:
        picture = Image.open(io.BytesIO(base64.b64decode(data))).convert("L")
        assert ImageStat.Stat(picture).stddev[0] > 5

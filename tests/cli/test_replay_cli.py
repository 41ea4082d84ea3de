"""``sellerwatch replay`` as a user runs it: outputs, sinks, summary, exit codes."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from sellerwatch.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "sample.jsonl.gz"


def test_the_shipped_sample_gives_every_verdict_kind_in_spec_field_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "v.jsonl"
    assert main(["replay", str(SAMPLE), "--out", str(out)]) == 0
    verdicts = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert {v["kind"] for v in verdicts} == {"tag", "untag", "delist", "watch", "fine", "incentive"}
    assert list(verdicts[0]) == [
        "verdict_id", "kind", "rule", "shop_id", "item_id", "period", "decided_at",
        "window_start", "window_end", "numerator", "denominator", "rate", "threshold",
        "amount_cents", "policy", "details",
    ]  # fmt: skip
    summary = capsys.readouterr().err
    assert "(balanced)" in summary and "verdicts" in summary


def test_sinks_get_rejects_with_file_and_line_late_records_and_metrics(tmp_path: Path) -> None:
    events = tmp_path / "in.jsonl"
    good = (
        b'{"type":"payment","event_id":"p1","ts":1625475599999,"order_id":"O1","shop_id":"S1",'
        b'"item_id":"I1","category_id":"C1","channel":"taote","amount_cents":1}'
    )
    tick = b'{"type":"enrollment","event_id":"t","ts":1625562000000,"shop_id":"X","action":"join"}'
    late = good.replace(b'"p1"', b'"p2"').replace(b'"O1"', b'"O2"')
    events.write_bytes(b"\n".join([good, b"", b"{oops", tick, late, good]) + b"\n")
    paths = {name: tmp_path / f"{name}.jsonl" for name in ("out", "rejects", "late", "metrics")}
    args = ["replay", str(events)] + [x for n, p in paths.items() for x in (f"--{n}", str(p))]
    assert main(args) == 0
    rejects = [orjson.loads(x) for x in paths["rejects"].read_bytes().splitlines()]
    assert rejects == [
        {"reason": "not_json", "message": rejects[0]["message"], "file": str(events), "line": 3,
         "raw": "{oops"}
    ]  # fmt: skip
    lates = [orjson.loads(x) for x in paths["late"].read_bytes().splitlines()]
    assert [x["line"] for x in lates] == [5]
    metrics = [orjson.loads(x) for x in paths["metrics"].read_bytes().splitlines()]
    assert metrics == [] or {"rule", "subject", "numerator", "denominator"} <= set(metrics[0])


def test_several_inputs_are_merged_by_event_time(tmp_path: Path) -> None:
    lines = [line for line in __import__("gzip").open(SAMPLE).read().splitlines() if line]
    odd, even = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    odd.write_bytes(b"\n".join(lines[0::2]) + b"\n")
    even.write_bytes(b"\n".join(lines[1::2]) + b"\n")
    whole, split = tmp_path / "whole.jsonl", tmp_path / "split.jsonl"
    assert main(["replay", str(SAMPLE), "--out", str(whole)]) == 0
    assert main(["replay", str(odd), str(even), "--out", str(split)]) == 0
    assert sorted(whole.read_bytes().splitlines()) == sorted(split.read_bytes().splitlines())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay", "/nonexistent/events.jsonl"], "cannot read input"),
        (["replay", str(SAMPLE), "--policy", "/nonexistent/policy.toml"], "cannot read policy"),
    ],
)
def test_an_unreadable_input_or_policy_is_a_one_line_error(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_bad_policy_names_the_setting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text("[pickup48]\ntag_above = 'lots'\n")
    assert main(["replay", str(SAMPLE), "--policy", str(policy), "--out", str(tmp_path / "v")]) == 2
    assert "pickup48.tag_above" in capsys.readouterr().err


def test_the_policy_name_is_stamped_on_every_verdict(tmp_path: Path) -> None:
    policy = tmp_path / "strict.toml"
    policy.write_text("[ship48_pickup24]\nmax_rate = 0.99\n")
    default, strict = tmp_path / "default.jsonl", tmp_path / "strict.jsonl"
    assert main(["replay", str(SAMPLE), "--out", str(default)]) == 0
    assert main(["replay", str(SAMPLE), "--policy", str(policy), "--out", str(strict)]) == 0
    by_policy = [
        [orjson.loads(x) for x in path.read_bytes().splitlines()] for path in (default, strict)
    ]
    assert {v["policy"] for v in by_policy[0]} == {"default"}
    assert {v["policy"] for v in by_policy[1]} == {"strict"}
    delists = [sum(v["kind"] == "delist" for v in run) for run in by_policy]
    assert delists[1] >= delists[0]


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("SELLERWATCH_INGEST", "bogus", "SELLERWATCH_INGEST"),
        ("SELLERWATCH_WEB_PORT", "x", "WEB_PORT"),
    ],
)
def test_a_bad_worker_setting_is_a_one_line_error(
    variable: str,
    value: str,
    named: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(variable, value)
    assert main(["worker", "--topic-prefix", "never-started."]) == 2
    error = capsys.readouterr().err
    assert error.startswith("sellerwatch: error:") and named in error and error.count("\n") == 1


def test_partitions_split_the_state_and_change_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = {}
    for partitions in ("1", "3"):
        out, metrics = tmp_path / f"v{partitions}.jsonl", tmp_path / f"m{partitions}.jsonl"
        argv = ["replay", str(SAMPLE), "--out", str(out), "--metrics", str(metrics)]
        assert main([*argv, "--partitions", partitions]) == 0
        runs[partitions] = (out.read_bytes(), metrics.read_bytes(), capsys.readouterr().err)
    assert runs["3"] == runs["1"]
    with pytest.raises(SystemExit) as exited:
        main(["replay", str(SAMPLE), "--partitions", "0"])
    assert exited.value.code == 2
    assert "--partitions: must be at least 1, not 0" in capsys.readouterr().err

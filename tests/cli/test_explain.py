"""``--evidence`` on replay and compare, and ``sellerwatch explain``: an appeal answered from
the record."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from sellerwatch.cli import main
from sellerwatch.schemas.evidence import decode_evidence

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "sample.jsonl.gz"
DEFAULT = ROOT / "sellerwatch" / "policies" / "default.toml"


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("replay")
    out, evidence = folder / "verdicts.jsonl", folder / "evidence.jsonl"
    assert main(["replay", str(SAMPLE), "--out", str(out), "--evidence", str(evidence)]) == 0
    return out, evidence


def _lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def test_every_verdict_has_one_evidence_record_in_the_same_order(
    replayed: tuple[Path, Path],
) -> None:
    out, evidence = replayed
    verdicts = [orjson.loads(line) for line in _lines(out)]
    records = [decode_evidence(line) for line in _lines(evidence)]
    assert [r.verdict_id for r in records] == [v["verdict_id"] for v in verdicts]
    for verdict, record in zip(verdicts, records, strict=True):
        assert orjson.loads(orjson.dumps(record.verdict, default=_struct)) == verdict
        assert len(record.denominator_orders) == verdict["denominator"]
        assert len(record.numerator_orders) == verdict["numerator"]


def _struct(value: object) -> object:
    import msgspec

    return msgspec.to_builtins(value)


def test_evidence_is_the_same_for_every_number_of_partitions(
    replayed: tuple[Path, Path], tmp_path: Path
) -> None:
    _, evidence = replayed
    for n in (2, 5):
        mine = tmp_path / f"evidence-{n}.jsonl"
        argv = ["replay", str(SAMPLE), "--out", str(tmp_path / f"v{n}.jsonl")]
        assert main([*argv, "--evidence", str(mine), "--partitions", str(n)]) == 0
        assert mine.read_bytes() == evidence.read_bytes()


@pytest.mark.parametrize("rule", ["ship48_pickup24", "quality_refund", "same_day_ship"])
def test_explain_prints_the_rule_the_figures_and_every_order(
    replayed: tuple[Path, Path], rule: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, evidence = replayed
    record = next(
        decode_evidence(line)
        for line in _lines(evidence)
        if decode_evidence(line).verdict.rule == rule
    )
    assert main(["explain", record.verdict_id, "--evidence", str(evidence)]) == 0
    page = capsys.readouterr().out
    verdict = record.verdict
    assert page.startswith(f"{record.verdict_id}  (policy default)")
    assert f"Rule {rule}: " in page
    assert f"Window: {verdict.window_start} to {verdict.window_end}" in page
    assert f"Figures: {verdict.numerator} of {verdict.denominator} orders" in page
    for order_id in record.denominator_orders:
        assert order_id in page
    starred = [line for line in page.splitlines() if line.startswith("*  ")]
    assert len(starred) == verdict.numerator
    if rule == "quality_refund":
        assert f"Category {verdict.details['category_id']}: " in page
    if rule == "same_day_ship":
        assert f"Amount: {verdict.amount_cents / 100:.2f}" in page


def test_explain_of_an_unknown_verdict_says_so_and_exits_1(
    replayed: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, evidence = replayed
    assert main(["explain", "pickup48:tag:nope:2024-06-04", "--evidence", str(evidence)]) == 1
    assert "no evidence of 'pickup48:tag:nope:2024-06-04'" in capsys.readouterr().err


def test_compare_writes_both_policies_evidence_and_explain_picks_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strict = tmp_path / "min10.toml"
    strict.write_text('name = "min10"\n[ship48_pickup24]\nmin_orders = 10\n')
    evidence = tmp_path / "evidence.jsonl"
    argv = ["compare", "--policy", str(DEFAULT), "--policy", str(strict), str(SAMPLE)]
    assert main([*argv, "--report", str(tmp_path / "r"), "--evidence", str(evidence)]) == 0
    records = [decode_evidence(line) for line in _lines(evidence)]
    by_policy: dict[str, list[str]] = {}
    for record in records:
        by_policy.setdefault(record.verdict.policy, []).append(record.verdict_id)
    for name, policy in (("default", DEFAULT), ("min10", strict)):
        out = tmp_path / f"{name}.jsonl"
        assert main(["replay", str(SAMPLE), "--policy", str(policy), "--out", str(out)]) == 0
        assert by_policy[name] == [orjson.loads(line)["verdict_id"] for line in _lines(out)]
    shared = next(iter(set(by_policy["default"]) & set(by_policy["min10"])))
    capsys.readouterr()
    assert main(["explain", shared, "--evidence", str(evidence), "--policy", "min10"]) == 0
    page = capsys.readouterr().out
    assert page.count("(policy min10)") == 1 and "(policy default)" not in page


def test_an_evidence_file_that_is_the_verdicts_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    same = tmp_path / "both.jsonl"
    assert main(["replay", str(SAMPLE), "--out", str(same), "--evidence", str(same)]) == 2
    assert "both write to" in capsys.readouterr().err


def test_explain_of_a_campaign_breach_names_the_order_and_the_broken_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = ROOT / "examples" / "policies" / "618-2022.toml"
    events, out, evidence = (tmp_path / n for n in ("e.jsonl", "v.jsonl", "x.jsonl"))
    generate = ["generate", "--profile", "small", "--seed", "1", "--start", "2022-05-28"]
    assert main([*generate, "--campaign", str(policy), "--out", str(events)]) == 0
    argv = ["replay", str(events), "--policy", str(policy), "--out", str(out)]
    assert main([*argv, "--evidence", str(evidence)]) == 0
    breaches = [
        decode_evidence(line)
        for line in _lines(evidence)
        if decode_evidence(line).verdict.rule == "campaign_fulfilment"
    ]
    reasons = {b.details["reason"] for b in breaches}
    assert "not_shipped_in_time" in reasons and "no_update_in_time" in reasons
    for reason in ("not_shipped_in_time", "no_update_in_time"):
        record = next(b for b in breaches if b.details["reason"] == reason)
        capsys.readouterr()
        assert main(["explain", record.verdict_id, "--evidence", str(evidence)]) == 0
        page = capsys.readouterr().out
        order_id = record.verdict.details["order_id"]
        assert f"breach order {order_id}" in page
        assert f"Breach: {reason}" in page
        assert record.denominator_orders == [order_id]
        assert ("First transit/delivered update" in page) == (reason == "no_update_in_time")

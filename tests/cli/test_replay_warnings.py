"""``replay --warnings``: early warnings beside the verdicts, which stay the same."""

from __future__ import annotations

from pathlib import Path

import msgspec

from sellerwatch.cli import main
from sellerwatch.schemas.warning import EarlyWarning

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "sample.jsonl.gz"


def test_warnings_come_beside_unchanged_verdicts_and_foresee_later_instants(
    tmp_path: Path,
) -> None:
    plain, warned, warnings = (tmp_path / n for n in ("plain", "warned", "warnings"))
    assert main(["replay", str(SAMPLE), "--out", str(plain)]) == 0
    assert main(["replay", str(SAMPLE), "--out", str(warned), "--warnings", str(warnings)]) == 0
    assert warned.read_bytes() == plain.read_bytes()
    decoder = msgspec.json.Decoder(EarlyWarning)
    records = [decoder.decode(line) for line in warnings.read_bytes().splitlines()]
    assert {r.kind for r in records} == {"delist", "fine"}
    assert all(r.warned_at < r.due_at for r in records)
    assert [r.warned_at for r in records] == sorted(r.warned_at for r in records)
    verdict_ids = set(plain.read_text().split('"verdict_id":"')[1:])
    came_true = {r.verdict_id for r in records} & {v.split('"')[0] for v in verdict_ids}
    assert came_true  # some warned delists and fines did happen
    split = tmp_path / "split-warnings"
    argv = ["replay", str(SAMPLE), "--out", str(tmp_path / "v4"), "--partitions", "4"]
    assert main([*argv, "--warnings", str(split)]) == 0
    assert split.read_bytes() == warnings.read_bytes()

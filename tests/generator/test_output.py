"""The output contract: SPEC §2 events, sorted by ts, one file or one file per topic, keys."""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from sellerwatch.generator import PROFILES, Generator
from sellerwatch.generator.writer import SPLIT_FILES
from sellerwatch.schemas.events import TOPIC_OF_TYPE, kafka_key
from sellerwatch.schemas.validation import Rejected, decode_event
from tests.generator.conftest import lines, run


def test_every_line_decodes_and_the_output_is_sorted_by_ts(small: Path) -> None:
    previous = 0
    ids = set()
    for line in lines(small):
        event = decode_event(line)
        assert not isinstance(event, Rejected), (line, event)
        assert event.ts >= previous
        previous = event.ts
        ids.add(event.event_id)
    assert len(ids) == len(lines(small))  # event ids are unique


def test_split_dir_files_together_equal_out(tmp_path: Path, small: Path) -> None:
    run("generate", "--profile", "small", "--seed", "1", "--split-dir", str(tmp_path / "split"))
    names = sorted(p.name for p in (tmp_path / "split").iterdir())
    assert names == sorted(
        ["payments.jsonl", "shipments.jsonl", "pickup-scans.jsonl", "refunds.jsonl",
         "seller-programs.jsonl"]
    )  # fmt: skip
    expected: dict[str, list[bytes]] = {topic: [] for topic in SPLIT_FILES}
    for line in lines(small):
        expected[TOPIC_OF_TYPE[orjson.loads(line)["type"]]].append(line)
    for topic, name in SPLIT_FILES.items():
        assert lines(tmp_path / "split" / name) == expected[topic], name


def test_split_dir_replays_to_the_same_verdicts(tmp_path: Path, small_verdicts: Path) -> None:
    split = tmp_path / "split"
    run("generate", "--profile", "small", "--seed", "1", "--split-dir", str(split))
    out = tmp_path / "verdicts.jsonl"
    run("replay", *sorted(str(p) for p in split.iterdir()), "--out", str(out))
    assert out.read_bytes() == small_verdicts.read_bytes()


def test_gzip_output_holds_the_same_bytes(tmp_path: Path, small: Path) -> None:
    out = tmp_path / "events.jsonl.gz"
    run("generate", "--profile", "small", "--seed", "1", "--out", str(out))
    assert gzip.decompress(out.read_bytes()) == small.read_bytes()


def test_records_carry_the_kafka_key_of_their_event() -> None:
    generator = Generator(PROFILES["small"], 2)
    for batch in generator.batches():
        for _, etype, key, line in batch:
            event = decode_event(line)
            assert not isinstance(event, Rejected)
            assert orjson.loads(line)["type"] == etype
            assert kafka_key(event) == key


def test_closing_summary_counts_what_was_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "events.jsonl"
    run("generate", "--seed", "4", "--days", "5", "--out", str(out))
    err = capsys.readouterr().err
    by_type = Counter(orjson.loads(line)["type"] for line in lines(out))
    assert f"generated {sum(by_type.values()):,} events" in err
    for etype, count in by_type.items():
        assert f"{etype} {count:,}" in err
    assert "dates 2024-06-01 .. 2024-06-05" in err
    assert f"orders {by_type['payment']:,}" in err


@pytest.mark.parametrize(
    "options",
    [
        ("--dup-rate", "1.5"),
        ("--bad-rate", "-0.1"),
        ("--shuffle-ms", "-1"),
        ("--days", "0"),
        ("--shops", "0"),
    ],
)
def test_bad_options_exit_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: tuple[str, str]
) -> None:
    from sellerwatch.cli import main

    code = main(["generate", "--seed", "1", *options, "--out", str(tmp_path / "x.jsonl")])
    assert code == 2
    assert "sellerwatch: error:" in capsys.readouterr().err


def test_options_override_the_profile(generate: Callable[..., Path]) -> None:
    out = generate(
        "--seed", "1", "--days", "4", "--shops", "12", "--items-per-shop", "3",
        "--orders-per-day", "50", "--start", "2024-03-04",
    )  # fmt: skip
    payments = [orjson.loads(line) for line in lines(out) if b'"payment"' in line]
    assert {p["shop_id"] for p in payments} <= {f"S{n:05d}" for n in range(1, 13)}
    first = min(orjson.loads(line)["ts"] for line in lines(out))
    assert first >= 1_709_481_600_000  # 2024-03-04 00:00 Asia/Shanghai

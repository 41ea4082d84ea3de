"""The hostile corpus through ``sellerwatch replay``: no crash, the books balanced and as
expected, every rejection dead-lettered with its reason, no input file modified."""

from __future__ import annotations

import gzip
import hashlib
import re
from collections import Counter
from pathlib import Path

import orjson
import pytest

from sellerwatch.cli import main
from tests.hostile.cases import ANY_REASON, Case, all_cases
from tests.hostile.make_corpus import CORPUS, MANIFEST, manifest

CASES = all_cases()
_BOOKS = re.compile(
    r"^records in ([\d,]+): applied ([\d,]+), duplicate ([\d,]+), late ([\d,]+), "
    r"rejected ([\d,]+) \(balanced\)$"
)


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _input(case: Case, tmp_path: Path) -> Path:
    """The checked-in file, or the large case built here."""
    if not case.large:
        return CORPUS / case.file_name
    path = tmp_path / case.file_name
    path.write_bytes(case.data)
    return path


def test_the_corpus_is_large_and_the_checked_in_files_match_the_cases() -> None:
    assert len(CASES) >= 150
    assert MANIFEST.read_bytes() == manifest(), "run: python -m tests.hostile.make_corpus"
    for case in CASES:
        if not case.large:
            assert (CORPUS / case.file_name).read_bytes() == case.data, case.name
    on_disk = {p.name for p in CORPUS.iterdir()} - {MANIFEST.name}
    assert on_disk == {c.file_name for c in CASES if not c.large}


def replay_case(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Replay one case and check everything a user would notice."""
    source = _input(case, tmp_path)
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    rejects, late, out = tmp_path / "rejects.jsonl", tmp_path / "late.jsonl", tmp_path / "v.jsonl"
    args = ["replay", str(source), "--out", str(out), "--rejects", str(rejects)]
    code = main([*args, "--late", str(late)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert code == 0, err
    books = _BOOKS.match(err.splitlines()[0])
    assert books is not None, err
    counted_in, applied, duplicate, late_n, rejected = (_number(g) for g in books.groups())
    assert counted_in == applied + duplicate + late_n + rejected
    assert (counted_in, applied, duplicate, late_n, rejected) == (
        case.records,
        case.applied,
        case.duplicate,
        case.late,
        len(case.rejected),
    ), err
    letters = [orjson.loads(x) for x in rejects.read_bytes().splitlines()]
    got = Counter(letter["reason"] for letter in letters)
    pinned = Counter(r for r in case.rejected if r != ANY_REASON)
    assert not pinned - got, (got, letters[:1])
    assert sum(got.values()) == len(case.rejected)
    for letter in letters:
        assert letter["file"] == str(source) and letter["line"] >= 1
        assert ("raw" in letter) != ("raw_base64" in letter)
    assert len(late.read_bytes().splitlines()) == case.late
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_case_replays_with_the_expected_books(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replay_case(case, tmp_path, capsys)


def test_the_whole_corpus_in_one_run_balances(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """All record cases in one file, and all the files as several inputs of one run."""
    inputs = [_input(c, tmp_path) for c in CASES if not c.gz and c.name != "no-final-newline"]
    together = tmp_path / "all.jsonl"
    together.write_bytes(b"".join(p.read_bytes() for p in inputs))
    for args in ([str(together)], [str(p) for p in inputs if p.parent == CORPUS]):
        code = main(["replay", *args, "--out", str(tmp_path / "v.jsonl")])
        err = capsys.readouterr().err
        assert code == 0 and "Traceback" not in err, err
        assert _BOOKS.match(err.splitlines()[0]), err


BROKEN_FILES: list[tuple[str, bytes, str]] = [
    # (name, bytes, what the one-line error must say)
    ("truncated.jsonl.gz", gzip.compress(b'{"type":"x"}\n' * 20_000)[:400], "truncated"),
    ("not-gzip.jsonl.gz", b'{"type":"payment"}\n', "corrupt"),
    ("zeros.jsonl.gz", b"\x1f\x8b\x08\x00" + b"\x00" * 200, "after line"),
    ("crc.jsonl.gz", gzip.compress(b"{}\n" * 10, mtime=0)[:-8] + b"\x00" * 8, "corrupt"),
]


@pytest.mark.parametrize(
    ("name", "data", "message"), BROKEN_FILES, ids=[b[0] for b in BROKEN_FILES]
)
def test_a_broken_file_is_a_one_line_error_and_leaves_nothing(
    name: str, data: bytes, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert (
        main(["replay", str(path), "--out", str(tmp_path / "v"), "--rejects", str(tmp_path / "r")])
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("sellerwatch: error:") and err.count("\n") == 1, err
    assert name in err and message in err, err
    assert [p.name for p in tmp_path.iterdir()] == [name]
    assert path.read_bytes() == data

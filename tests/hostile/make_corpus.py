"""Write the small hostile cases to ``corpus/`` (``python -m tests.hostile.make_corpus``).

Each case is one file; ``EXPECTED.json`` holds what a replay of it must count. The checked-in
files are what the tests read (a test fails when they drift from :mod:`tests.hostile.cases`);
cases over 64 KiB are built by the tests instead of being checked in.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from tests.hostile.cases import Case, all_cases

CORPUS = Path(__file__).parent / "corpus"
MANIFEST = CORPUS / "EXPECTED.json"


def expected(case: Case) -> dict[str, object]:
    """The books of one case, as the manifest records them."""
    return {
        "records": case.records,
        "applied": case.applied,
        "duplicate": case.duplicate,
        "late": case.late,
        "rejected": sorted(case.rejected),
    }


def manifest() -> bytes:
    """``EXPECTED.json``: file name → books, for every checked-in case."""
    doc = {c.file_name: expected(c) for c in all_cases() if not c.large}
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def main() -> int:
    """Rewrite the corpus directory from the case list."""
    CORPUS.mkdir(exist_ok=True)
    for old in CORPUS.iterdir():
        old.unlink()
    small = [c for c in all_cases() if not c.large]
    for case in small:
        (CORPUS / case.file_name).write_bytes(case.data)
    MANIFEST.write_bytes(manifest())
    sys.stdout.write(f"wrote {len(small)} cases to {CORPUS}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

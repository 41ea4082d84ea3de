"""Shared fixtures: the repository root and the shared data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture
def root() -> Path:
    """The repository root."""
    return ROOT


@pytest.fixture
def olist_events() -> Path:
    """The Olist sample of real marketplace events (skips when ../shared is absent)."""
    path = SHARED / "data" / "olist" / "events.jsonl.gz"
    if not path.exists():
        pytest.skip("../shared/data/olist is not beside the project")
    return path

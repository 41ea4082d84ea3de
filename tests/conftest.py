"""Shared fixtures: the repository root and the Olist events (not part of the repository)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Where this project's own machines keep the Olist events, when ``OLIST_EVENTS`` is not set.
OLIST_BESIDE = ROOT.parent / "shared" / "data" / "olist" / "events.jsonl.gz"


def pytest_report_header() -> str:
    """Say up front which tests need services, and how to run without them."""
    return (
        "integration tests (marker `integration`, tests/integration/) need Kafka and Redis and "
        "start deploy/local/up.sh when nothing listens; without services: -m 'not integration'"
    )


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test under tests/integration/, or one that asks for the ``services`` fixture, is an
    integration test even if nobody marked it, so ``-m "not integration"`` never needs Kafka."""
    folder = ROOT / "tests" / "integration"
    for item in items:
        if item.path.is_relative_to(folder) or "services" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def root() -> Path:
    """The repository root."""
    return ROOT


@pytest.fixture
def olist_events() -> Path:
    """The Olist events (docs/olist.md): ``$OLIST_EVENTS``; skips when the file is absent."""
    path = Path(os.environ.get("OLIST_EVENTS", OLIST_BESIDE))
    if not path.is_file():
        pytest.skip(f"no Olist events at {path} (set OLIST_EVENTS, docs/olist.md)")
    return path

"""``SELLERWATCH_PARTITIONS``: how many state partitions the worker's engine splits into; and
the removed ``SELLERWATCH_INGEST=sequenced``."""

from __future__ import annotations

import pytest

from sellerwatch.agents.settings import MAX_PARTITIONS, Settings, SettingsError


def test_the_state_is_one_partition_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SELLERWATCH_PARTITIONS", raising=False)
    assert Settings().partitions == 1
    monkeypatch.setenv("SELLERWATCH_PARTITIONS", "8")
    assert Settings().partitions == 8


@pytest.mark.parametrize("value", ["0", "-2", str(MAX_PARTITIONS + 1), "four"])
def test_a_partition_count_no_engine_can_run_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SELLERWATCH_PARTITIONS", value)
    with pytest.raises(SettingsError, match="SELLERWATCH_PARTITIONS"):
        Settings()


def test_the_removed_sequenced_ingest_is_refused_saying_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SELLERWATCH_INGEST", "sequenced")
    with pytest.raises(SettingsError, match="sequenced was removed.*unset it.*PARTITIONS"):
        Settings()
    monkeypatch.setenv("SELLERWATCH_INGEST", "direct")  # the one way left, still accepted
    assert Settings().ingest == "direct"

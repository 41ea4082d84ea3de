"""The compact set of ids ever paid: the worked table of ``streams/id_set.py``, and that it
answers exactly as a ``set`` whatever the ids (non-ASCII, prefixes of one another, repeats)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sellerwatch.streams import id_set
from sellerwatch.streams.id_set import CompactIdSet


@pytest.fixture
def small_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(id_set, "RECENT_MAX", 2)


@pytest.mark.usefixtures("small_runs")
def test_the_worked_table_of_the_module() -> None:
    ids = CompactIdSet()
    ids.add("a")
    assert ids.recent == {"a"} and not ids.runs
    ids.add("b")
    assert not ids.recent and len(ids.runs) == 1
    ids.add("c")
    ids.add("d")
    assert not ids.recent and len(ids.runs) == 1, "two runs of two ids merge into one"
    ids.add("e")
    assert all(x in ids for x in "abcde")
    assert "f" not in ids and "" not in ids and 7 not in ids
    assert sorted(ids) == list("abcde")


@pytest.mark.usefixtures("small_runs")
@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(min_size=1, max_size=6), max_size=60),
    st.lists(st.text(min_size=1, max_size=6), max_size=20),
)
def test_it_answers_as_a_set(added: list[str], asked: list[str]) -> None:
    ids = CompactIdSet(added)
    expected = set(added)
    for value in [*added, *asked]:
        assert (value in ids) == (value in expected)
    assert sorted(ids) == sorted(expected)
    assert len(ids.runs) <= max(1, len(expected)).bit_length() + 1, "O(log n) runs"


def test_a_run_costs_the_ids_bytes_and_an_offset_each() -> None:
    ids = CompactIdSet(f"O{n:09d}" for n in range(id_set.RECENT_MAX))
    assert not ids.recent and len(ids.runs) == 1
    data, offsets = ids.runs[0]
    assert len(data) == 10 * id_set.RECENT_MAX and len(offsets) == 4 * (id_set.RECENT_MAX + 1)
    assert "O000000000" in ids and "O000099999" in ids and "O000100000" not in ids

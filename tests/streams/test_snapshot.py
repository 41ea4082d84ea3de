"""Snapshots: a restored engine carries on exactly; nothing but the engine's own state is read."""

from __future__ import annotations

import gzip
import os
import pickle
import sys
from dataclasses import replace
from pathlib import Path

import msgspec
import pytest

from sellerwatch.streams import snapshot as codec
from sellerwatch.streams.engine import Engine
from sellerwatch.streams.policy import Policy

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample.jsonl.gz"


def _lines() -> list[bytes]:
    return [line for line in gzip.open(SAMPLE).read().splitlines() if line.strip()]


def _finish(engine: Engine, lines: list[bytes]) -> tuple[list[object], dict[str, object]]:
    for line in lines:
        engine.accept_raw(line)
    engine.finish()
    return list(engine.take_verdicts()), engine.accounting.as_dict()


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9])
def test_a_restored_engine_decides_exactly_what_the_original_decides(cut: float) -> None:
    lines = _lines()
    at = int(len(lines) * cut)
    original = Engine(collect_evaluations=True)
    for line in lines[:at]:
        original.accept_raw(line)
    restored = Engine.restore(original.snapshot(), Policy())
    assert _finish(restored, lines[at:]) == _finish(original, lines[at:])
    assert restored.take_evaluations() == original.take_evaluations()


def test_the_snapshot_names_its_format_code_and_policy() -> None:
    head = codec.header(Engine().snapshot())
    assert head["format"] == "sellerwatch-engine-state"
    assert head["version"] == codec.VERSION
    assert head["policy"] == codec.policy_fingerprint(Policy())
    assert head["code"]


def test_a_snapshot_of_another_policy_is_refused_with_both_names() -> None:
    blob = Engine(Policy(name="strict", dedupe_horizon_ms=2 * 86_400_000)).snapshot()
    with pytest.raises(codec.PolicyMismatch, match="'strict'.*'default'"):
        Engine.restore(blob, Policy())
    assert Engine.restore(blob, Policy(name="strict", dedupe_horizon_ms=2 * 86_400_000))


def test_the_fingerprint_covers_every_setting() -> None:
    base = Policy()
    changed = replace(base, ship48_pickup24=replace(base.ship48_pickup24, min_orders=10))
    assert codec.policy_fingerprint(changed) != codec.policy_fingerprint(base)


class _Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {_Boom.marker}",))

    marker = ""


def test_a_malicious_pickle_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    _Boom.marker = str(tmp_path / "owned")
    evil = pickle.dumps({"state": _Boom()})
    with pytest.raises(codec.SnapshotError, match="not a sellerwatch snapshot"):
        Engine.restore(evil)
    assert not (tmp_path / "owned").exists()


def test_a_snapshot_naming_a_class_outside_the_state_is_refused() -> None:
    head = {
        "format": codec.FORMAT,
        "version": codec.VERSION,
        "policy": codec.policy_fingerprint(Policy()),
        "classes": [["posix:system", []]],
    }
    blob = msgspec.msgpack.encode([head, [codec.OBJECT, 0, []]])
    with pytest.raises(codec.SnapshotError, match="'posix:system' is not part of the engine"):
        Engine.restore(blob)


def test_a_snapshot_of_another_format_version_is_refused() -> None:
    head, tree = msgspec.msgpack.decode(Engine().snapshot())
    head["version"] = codec.VERSION + 1
    with pytest.raises(codec.SnapshotError, match="format version"):
        Engine.restore(msgspec.msgpack.encode([head, tree]))


def test_a_class_whose_fields_changed_is_refused() -> None:
    """A snapshot of code whose ``Order`` had other fields cannot be read field by field."""
    engine = Engine()
    for line in _lines()[:200]:
        engine.accept_raw(line)
    head, tree = msgspec.msgpack.decode(engine.snapshot())
    orders = [entry for entry in head["classes"] if entry[0] == "streams.orders:Order"]
    assert orders, "the sample has orders"
    orders[0][1] = orders[0][1][:-1]
    with pytest.raises(codec.SnapshotError, match="another version"):
        Engine.restore(msgspec.msgpack.encode([head, tree]))


@pytest.mark.parametrize(
    "blob", [b"", b"\x00" * 10, b"garbage", msgspec.msgpack.encode([1, 2, 3])], ids=repr
)
def test_damaged_bytes_are_a_snapshot_error(blob: bytes) -> None:
    with pytest.raises(codec.SnapshotError):
        Engine.restore(blob)


def test_a_message_between_partitions_round_trips_and_refuses_what_a_snapshot_refuses() -> None:
    """The coordinator's messages to its partitions use the snapshot's tree (no pickle)."""
    from sellerwatch.schemas.validation import decode_event

    event = decode_event(_lines()[0])
    value = {"event": event, "early": [event, event], "figures": (1, 2)}
    back = codec.loads_message(codec.dumps_message(value))
    assert back == value
    hostile = msgspec.msgpack.encode([[["posix:system", []]], [codec.OBJECT, 0, []]])
    with pytest.raises(codec.SnapshotError, match="'posix:system' is not part of the engine"):
        codec.loads_message(hostile)
    for damaged in (b"", b"garbage", msgspec.msgpack.encode([1, 2, 3])):
        with pytest.raises(codec.SnapshotError):
            codec.loads_message(damaged)


@pytest.mark.parametrize(
    "value",
    [
        ["a", "b", "a"],
        [1, 2.5, None, True, b"x"],
        {"id-1": 5, "id-2": 7},
        {1: "one", 2: "two"},
        ["a", 1],  # strings and numbers: read one by one
        {"a": [1, 2], "b": []},  # a branch inside
        [],
        {},
    ],
    ids=repr,
)
def test_plain_lists_and_maps_take_the_fast_path_and_read_back_the_same(value: object) -> None:
    """Lists and dicts of plain values (an id list, an id -> ts map) are written and read by
    C loops; the tree and what is read back are the general branch's."""
    tree = codec._Writer().write(value)
    general = codec._Writer()
    general_tree = _written_one_by_one(general, value)
    assert tree == general_tree
    back = codec.loads_message(codec.dumps_message(value))
    assert back == value and type(back) is type(value)
    strings = back if isinstance(back, list) else list(back) + list(back.values())  # type: ignore[union-attr]
    for text in strings:
        if type(text) is str:
            assert text is sys.intern(text), "read strings are interned"


def _written_one_by_one(writer: codec._Writer, value: object) -> object:
    if isinstance(value, list):
        writer._share(value)
        return [codec.LIST, [writer.write(v) for v in value]]
    assert isinstance(value, dict)
    writer._share(value)
    items: list[object] = []
    for key, item in value.items():
        items += [writer.write(key), writer.write(item)]
    return [codec.DICT, items]


def test_a_list_written_twice_is_shared_also_on_the_fast_path() -> None:
    ids = ["a", "b"]
    back = codec.loads_message(codec.dumps_message({"x": ids, "y": ids, "z": (ids,)}))
    assert back["x"] is back["y"] is back["z"][0] and back["x"] == ids


def test_a_snapshot_holding_the_paid_ids_as_a_set_is_upgraded_and_decides_the_same(
    olist_events: Path,
) -> None:
    """Snapshots written before ``ever_paid`` was a CompactIdSet hold a set: read, it becomes
    one, and the engine continues exactly (Olist: two years, so many ids are past the horizon)."""
    from sellerwatch.streams.id_set import CompactIdSet

    lines = [line for line in gzip.open(olist_events).read().splitlines() if line.strip()]
    at = int(len(lines) * 0.6)
    original = Engine(collect_evaluations=True)
    for line in lines[:at]:
        original.accept_raw(line)
    book = original.state.book
    paid = set(book.ever_paid)
    assert len(paid) > 1000, "Olist's first 60% pass the order horizon for many orders"
    book.ever_paid = paid  # type: ignore[assignment]  # as an older version held it
    old = original.snapshot()
    book.ever_paid = CompactIdSet(paid)
    restored = Engine.restore(old, Policy())
    assert isinstance(restored.state.book.ever_paid, CompactIdSet)
    assert set(restored.state.book.ever_paid) == paid
    assert _finish(restored, lines[at:]) == _finish(original, lines[at:])
    assert restored.take_evaluations() == original.take_evaluations()

"""The live worker on the real broker and Redis: same verdicts as replay, exactly once."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
import redis

from sellerwatch.agents.topics import INPUT_TOPICS
from sellerwatch.cli import main
from sellerwatch.schemas.evidence import Evidence, decode_evidence, join
from sellerwatch.schemas.verdict import encode
from tests.builders import as_json, clock_tick, payment, subsidy
from tests.integration.conftest import (
    BOOTSTRAP,
    REDIS_URL,
    Worker,
    assert_read_model_is_the_topics,
    duplicates_of,
    read_model_hashes,
    read_model_settled,
    read_topics,
    read_verdicts,
    run_cli,
    wait_for,
    wait_for_a_snapshot_with_redis_written,
)
from tests.integration.own_broker import OwnBroker
from tests.integration.own_redis import OwnRedis
from tests.integration.workload import make_workload, records_in, replay_verdicts, tick_ts

pytestmark = pytest.mark.integration
L_MS = 5 * 60_000


def _engine_done(workers: list[Worker], records: int, tick_ts: int) -> bool:
    for worker in workers:
        stats = worker.stats()
        if stats and stats["engine_active"] and stats["accounting"]:
            watermark = stats["watermark"]
            if (
                stats["accounting"]["in"] >= records
                and watermark is not None
                and watermark >= tick_ts - L_MS
            ):
                return True
    return False


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes]]:
    folder = tmp_path_factory.mktemp("workload")
    path = make_workload(folder / "events.jsonl")
    return path, replay_verdicts(path, folder / "replay.jsonl")


def test_the_workload_has_every_verdict_kind(workload: tuple[Path, list[bytes]]) -> None:
    _, expected = workload
    kinds = {orjson.loads(line)["kind"] for line in expected}
    assert kinds == {"tag", "untag", "delist", "watch", "fine", "incentive"}


def test_backtest_from_topics_matches_replay(
    workload: tuple[Path, list[bytes]], prefix: str, tmp_path: Path
) -> None:
    path, expected = workload
    run_cli("produce", "--topic-prefix", prefix, str(path))
    out, evidence, warnings = (tmp_path / f"{n}.jsonl" for n in ("out", "evidence", "warnings"))
    extra = ["--evidence", str(evidence), "--warnings", str(warnings)]
    run_cli("backtest", "--from-topics", "--topic-prefix", prefix, "--out", str(out), *extra)
    assert sorted(out.read_bytes().splitlines()) == sorted(expected)
    # the evidence and the warnings are the replay's too
    replayed, warned = tmp_path / "replay-evidence.jsonl", tmp_path / "replay-warnings.jsonl"
    argv = ["replay", str(path), "--out", os.devnull, "--evidence", str(replayed)]
    assert main([*argv, "--warnings", str(warned)]) == 0
    assert sorted(evidence.read_bytes().splitlines()) == sorted(replayed.read_bytes().splitlines())
    assert len(evidence.read_bytes().splitlines()) == len(expected)
    assert warnings.read_bytes() and warnings.read_bytes() == warned.read_bytes()


def test_one_live_worker_matches_replay_and_fills_the_read_model(
    workload: tuple[Path, list[bytes]], prefix: str, workers
) -> None:
    path, expected = workload
    # History is loaded first and the live worker catches up: loading a file takes seconds, so
    # producing it under a running worker would wake idle partitions behind the watermark.
    run_cli("produce", "--topic-prefix", prefix, str(path))
    worker = workers(prefix, "a")
    wait_for(lambda: _engine_done([worker], records_in(path), tick_ts(path)), 180, "the engine")
    assert worker.stats()["accounting"]["late"] == 0  # type: ignore[index]
    got = read_verdicts(prefix)
    assert len(got) == len(set(got))
    assert sorted(got) == sorted(expected)
    some = orjson.loads(expected[0])
    status = run_cli("status", "--topic-prefix", prefix, some["item_id"] or some["shop_id"])
    assert some["verdict_id"] in status.stdout or "figures:" in status.stdout
    # Redis loses the read model (a restart without persistence): the topics give it back,
    # field for field as the worker wrote it.
    running = subprocess.run(
        ["sellerwatch", "rebuild-read-model", "--topic-prefix", prefix],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert running.returncode == 2 and "stop every worker" in running.stderr, running.stderr
    worker.stop()  # writes what it staged
    written = read_model_hashes(prefix)
    assert len(written) > 100
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(*written)
    done = run_cli("rebuild-read-model", "--topic-prefix", prefix)
    assert f"{len(written)} keys" in done.stderr
    assert read_model_hashes(prefix) == written


@pytest.mark.parametrize("case", ["no snapshot", "snapshots held back", "redis emptied"])
def test_what_a_killed_worker_never_wrote_to_redis_is_written_by_the_next_or_reported(
    workload: tuple[Path, list[bytes]], prefix: str, own_redis: OwnRedis, workers, case: str
) -> None:
    """A worker commits every verdict and is killed with -9; what it had not written to Redis
    dies with it. In each case its successor ends with the read model the topics give,
    field for field.

    - Redis down all along, no snapshot: the successor replays the whole log, writes it all.
    - Redis down all along, a snapshot due every second: it waits for Redis, so none is
      committed, and again the successor replays the whole log.
    - Redis written, a snapshot committed, then Redis emptied (a restart without
      persistence): the successor takes over from the snapshot, finds the verdicts before it
      missing, says so, and reads them back from the output topics while it runs.
    """
    path, expected = workload
    run_cli("produce", "--topic-prefix", prefix, str(path))
    if case != "redis emptied":
        own_redis.stop()
    env = {
        "SELLERWATCH_REDIS_URL": own_redis.url,
        "SELLERWATCH_SNAPSHOT_INTERVAL_S": "3600" if case == "no snapshot" else "1",
    }
    first = workers(prefix, "a", **env)
    done = lambda worker: _engine_done([worker], records_in(path), tick_ts(path))  # noqa: E731
    wait_for(lambda: done(first), 180, "the first worker")
    if case == "snapshots held back":
        again = duplicates_of(path)
        for _ in range(4):  # a snapshot is taken and sent in later transactions
            run_cli("produce", "--topic-prefix", prefix, str(again))
            time.sleep(1.5)
        held = first.stats() or {}
        assert held["snapshots_committed"] == 0 and held["snapshot_waiting_for_read_model_s"] > 0
    if case == "redis emptied":
        wait_for_a_snapshot_with_redis_written(first, prefix, path)
        own_redis.stop()
        own_redis.start()  # empty: no persistence
    else:
        assert (first.stats() or {})["read_model"]["keys_waiting"] > 100
    first.kill9()
    if case != "redis emptied":
        own_redis.start()

    second = workers(prefix, "a", **env)  # the same member: it need not wait out the dead one
    wait_for(lambda: done(second) and read_model_settled(second), 180, "the second worker")
    second.stop()
    log = second.log_path.read_text()
    assert ("reads them back" in log and "read back" in log) == (case == "redis emptied"), log
    some = orjson.loads(expected[0])
    status = subprocess.run(
        ["sellerwatch", "status", "--topic-prefix", prefix, some["shop_id"]],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert status.returncode == 0 and "rebuild-read-model" not in status.stderr, status.stderr
    assert_read_model_is_the_topics(prefix, own_redis.url, **env)  # all of it


def test_a_stand_by_worker_takes_over_when_the_engine_owner_is_killed(
    big_workload: tuple[Path, list[bytes]], prefix: str, workers
) -> None:
    """One worker reads everything, the other waits; kill -9 the first."""
    path, expected = big_workload
    run_cli("produce", "--topic-prefix", prefix, str(path))
    pair = [workers(prefix, "a")]
    wait_for(lambda: (pair[0].stats() or {}).get("verdicts_committed", 0) > 0, 240, "progress")
    pair.append(workers(prefix, "b"))

    def one_owner() -> bool:
        stats = [w.stats() for w in pair]
        return all(stats) and sum(bool(s["engine_active"]) for s in stats) == 1  # type: ignore[index]

    wait_for(one_owner, 120, "one engine owner among two workers")
    owner, stand_by = sorted(pair, key=lambda w: not w.stats()["engine_active"])  # type: ignore[index]
    assert 0 < len(read_verdicts(prefix)) < len(expected)
    # /stats/ shows the split: the owner reads every input partition, the other none
    every = sorted(f"{prefix}{t}-{p}" for t in INPUT_TOPICS for p in range(4))
    assert owner.stats()["partitions"] == every  # type: ignore[index]
    assert stand_by.stats()["partitions"] == []  # type: ignore[index]
    owner.kill9()
    total = records_in(path)
    wait_for(lambda: _engine_done([stand_by], total, tick_ts(path)), 300, "the take-over")
    got = read_verdicts(prefix)
    ids = Counter(orjson.loads(v)["verdict_id"] for v in got)
    assert [i for i, n in ids.items() if n > 1] == []
    assert sorted(got) == sorted(expected)


@pytest.fixture(scope="module")
def big_workload(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes]]:
    """~320k events: long enough to kill the worker, or the broker, in the middle of it."""
    folder = tmp_path_factory.mktemp("big")
    path = make_workload(folder / "events.jsonl", 5, "--profile", "medium")
    return path, replay_verdicts(path, folder / "replay.jsonl")


@pytest.mark.parametrize("partitions", ["1", "4"])
def test_kill_9_mid_stream_keeps_each_verdict_exactly_once(
    big_workload: tuple[Path, list[bytes]], prefix: str, workers, partitions: str
) -> None:
    """With evidence and warnings on, their topics too hold each record exactly once; with
    the state in partitions, the restart restores them from the partitioned snapshot."""
    path, expected = big_workload
    run_cli("produce", "--topic-prefix", prefix, str(path))
    on = {
        "SELLERWATCH_EVIDENCE": "1",
        "SELLERWATCH_WARNINGS": "1",
        "SELLERWATCH_PARTITIONS": partitions,
    }
    worker = workers(prefix, "a", **on)
    total = records_in(path)

    def snapshot_and_verdicts() -> bool:
        stats = worker.stats() or {}
        return stats.get("verdicts_committed", 0) > 0 and stats.get("snapshots_committed", 0) > 0

    # A snapshot (taken by a forked child) is committed first, so the restart starts from it.
    wait_for(snapshot_and_verdicts, 240, "progress and a snapshot")
    worker.kill9()  # mid-stream, most likely inside a transaction
    before = read_verdicts(prefix)
    assert 0 < len(before) < len(expected)
    restarted = workers(prefix, "a", **on)
    wait_for(lambda: _engine_done([restarted], total, tick_ts(path)), 300, "the engine")
    after = restarted.stats() or {}
    assert after["restored_from_snapshot"] is not None  # the restart began from the snapshot
    assert after["state_partitions"] == int(partitions)
    got = read_verdicts(prefix)
    ids = Counter(orjson.loads(v)["verdict_id"] for v in got)
    assert [i for i, n in ids.items() if n > 1] == []
    assert sorted(got) == sorted(expected)
    parts: dict[str, list[Evidence]] = {}
    for _, _, value, _ in read_topics([f"{prefix}sellerwatch.evidence"]):
        record = decode_evidence(value)
        parts.setdefault(record.verdict_id, []).append(record)
    assert any(len(p) > 1 for p in parts.values())  # the busy shop's incentives are split
    evidence = [encode(join(p)) for p in parts.values()]
    replayed, warned = path.with_suffix(".evidence.jsonl"), path.with_suffix(".warnings.jsonl")
    if not replayed.exists():
        argv = ["replay", str(path), "--out", os.devnull, "--evidence", str(replayed)]
        assert main([*argv, "--warnings", str(warned)]) == 0
    assert sorted(evidence) == sorted(replayed.read_bytes().splitlines())
    warnings = [value for _, _, value, _ in read_topics([f"{prefix}sellerwatch.warnings"])]
    assert warnings and sorted(warnings) == sorted(warned.read_bytes().splitlines())


def test_bad_and_duplicate_records_are_dead_lettered_and_the_books_balance(
    prefix: str, workers, tmp_path: Path
) -> None:
    path = make_workload(tmp_path / "faulty.jsonl", 11, "--bad-rate", "0.02", "--dup-rate", "0.02")
    # and one record just under the broker's default 1 MiB limit, over it with the dead-letter
    # headers (it used to fail every transaction that carried it: the engine rebuilt forever)
    lines = path.read_bytes().splitlines(keepends=True)
    huge = b"x" * 1_048_400
    path.write_bytes(b"".join([*lines[:100], huge + b"\n", *lines[100:]]))
    expected_rejects = subprocess.run(
        [
            "sellerwatch",
            "replay",
            str(path),
            "--out",
            str(tmp_path / "v.jsonl"),
            "--rejects",
            str(tmp_path / "rejects.jsonl"),
        ],
        check=True,
        capture_output=True,
    )
    assert expected_rejects.returncode == 0
    rejects = [orjson.loads(x) for x in (tmp_path / "rejects.jsonl").read_bytes().splitlines()]
    worker = workers(prefix, "a")
    wait_for(lambda: worker.stats() is not None, 60, "the worker")
    run_cli("produce", "--topic-prefix", prefix, str(path))
    wait_for(lambda: _engine_done([worker], records_in(path), tick_ts(path)), 180, "the engine")
    stats = worker.stats()
    assert stats is not None
    books = stats["accounting"]
    assert books["in"] == records_in(path)
    assert books["in"] == books["applied"] + books["duplicate"] + books["late"] + books["rejected"]
    assert books["duplicate"] > 0 and books["rejected"] == len(rejects) > 0
    letters = read_topics([prefix + "sellerwatch.dead-letter"])
    assert len(letters) == len(rejects)
    reasons = Counter(dict(h)["reason"].decode() for _, _, _, h in letters)
    assert reasons == Counter(r["reason"] for r in rejects)
    raws = {value for _, _, value, _ in letters}
    assert {r.get("raw", "").encode() for r in rejects if "raw" in r} <= raws
    assert huge in raws  # whole (SPEC §5): every topic takes 8 MiB
    assert not any("truncated_from" in dict(h) for _, _, _, h in letters)
    for _, _, _, headers in letters:
        found = dict(headers)
        assert (
            found["source_topic"].startswith(prefix.encode()) and int(found["source_offset"]) >= 0
        )
    assert worker.process is not None and worker.process.poll() is None


def test_an_item_id_as_long_as_a_record_allows_gets_its_verdict_on_kafka(
    prefix: str, workers, tmp_path: Path
) -> None:
    """SPEC bounds no id but ``event_id``: a 600 KB item id is a valid event. Its subsidy record
    (keyed by the id) and its delist verdict (the id twice) are over the broker's default 1 MiB;
    the topics take 8 MiB. Before, the verdict's transaction failed at every rebuild."""
    item = "I" + "x" * 600_000
    path = tmp_path / "long-id.jsonl"
    events = [subsidy(item, "2021-07-01"), payment("O1", "2021-07-02 10:00", item=item)]
    path.write_bytes(b"\n".join(as_json(e) for e in [*events, clock_tick("2021-07-10")]) + b"\n")
    expected = replay_verdicts(path, tmp_path / "replay.jsonl")
    assert [orjson.loads(v)["kind"] for v in expected] == ["delist"]
    assert len(expected[0]) > 1_048_576
    run_cli("produce", "--topic-prefix", prefix, str(path))
    worker = workers(prefix, "a")
    wait_for(lambda: len(read_verdicts(prefix)) == 1, 120, "the verdict")
    assert read_verdicts(prefix) == expected
    assert (worker.stats() or {}).get("restarts") == 0


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is installed by .ci/run")
def test_a_non_aiokafka_client_produces_events_and_reads_verdicts(
    workload: tuple[Path, list[bytes]], prefix: str, workers
) -> None:
    path, expected = workload
    worker = workers(prefix, "a")
    wait_for(lambda: worker.stats() is not None, 60, "the worker")
    from sellerwatch.agents.produce import route

    by_topic: dict[str, list[bytes]] = {}
    for raw in path.read_bytes().splitlines():
        topic, key = route(raw)
        by_topic.setdefault(topic, []).append((key or b"") + b"\t" + raw)
    for topic, lines in by_topic.items():
        subprocess.run(
            ["kcat", "-b", BOOTSTRAP, "-P", "-t", prefix + topic, "-K", "\t"],
            input=b"\n".join(lines) + b"\n",
            check=True,
            timeout=120,
        )
    wait_for(lambda: _engine_done([worker], records_in(path), tick_ts(path)), 180, "the engine")
    got: list[bytes] = []
    for topic in (
        "verdicts.tag",
        "verdicts.delist",
        "verdicts.fine",
        "verdicts.watch",
        "verdicts.incentive",
    ):
        result = subprocess.run(
            [
                "kcat",
                "-b",
                BOOTSTRAP,
                "-C",
                "-t",
                prefix + topic,
                "-o",
                "beginning",
                "-e",
                "-q",
                "-X",
                "isolation.level=read_committed",
                "-f",
                "%s\n",
            ],
            capture_output=True,
            check=True,
            timeout=120,
        )
        got += [line for line in result.stdout.splitlines() if line.strip()]
    assert sorted(got) == sorted(expected)


def test_the_worker_survives_a_broker_restart_and_loses_nothing(
    own_broker: OwnBroker, big_workload: tuple[Path, list[bytes]], prefix: str, workers
) -> None:
    """(``own_broker`` first: set up before the workers, it is stopped after them.)"""
    path, expected = big_workload
    on = {"SELLERWATCH_BOOTSTRAP": own_broker.bootstrap}
    run_cli(
        "produce", "--topic-prefix", prefix, str(path), SELLERWATCH_BOOTSTRAP=own_broker.bootstrap
    )
    worker = workers(prefix, "a", **on)
    total = records_in(path)
    wait_for(lambda: (worker.stats() or {}).get("engine_records", 0) > total * 0.2, 240, "progress")
    own_broker.restart()  # SIGTERM, 2 s down, the same data and ports again
    wait_for(lambda: _engine_done([worker], total, tick_ts(path)), 300, "the engine")
    assert worker.process is not None and worker.process.poll() is None
    got = read_verdicts(prefix, own_broker.bootstrap)
    ids = Counter(orjson.loads(v)["verdict_id"] for v in got)
    assert [i for i, n in ids.items() if n > 1] == []
    assert sorted(got) == sorted(expected)


def test_a_sigterm_with_the_broker_gone_ends_the_worker_within_its_stop_deadline(
    own_broker: OwnBroker, prefix: str, workers
) -> None:
    """Faust's consumer thread alone waits 60 s for a broker that is gone; Kubernetes would
    SIGKILL it at 30 s. The worker ends its own stop after ``SELLERWATCH_STOP_TIMEOUT_S``."""
    worker = workers(
        prefix, "a", SELLERWATCH_BOOTSTRAP=own_broker.bootstrap, SELLERWATCH_STOP_TIMEOUT_S="5"
    )
    wait_for(lambda: (worker.stats() or {}).get("engine_active", False), 90, "the engine")
    own_broker.stop()
    assert worker.process is not None
    worker.process.send_signal(signal.SIGTERM)
    assert worker.process.wait(timeout=15) == 0
    assert "has not stopped 5s after it was asked to" in worker.log_path.read_text()


def test_the_worker_exits_cleanly_on_sigterm(prefix: str, workers) -> None:
    """Kubernetes and Compose stop a worker with SIGTERM; it must not need SIGKILL."""
    worker = workers(prefix, "a")
    wait_for(lambda: (worker.stats() or {}).get("engine_active", False), 90, "the engine")
    assert worker.process is not None
    worker.process.send_signal(signal.SIGTERM)
    assert worker.process.wait(timeout=20) is not None


def test_real_olist_data_through_kafka_matches_the_replay(
    olist_events: Path, prefix: str, workers, tmp_path: Path
) -> None:
    """115k real events over 20 partitions: backtest and a live worker agree with the replay."""
    expected = replay_verdicts(olist_events, tmp_path / "replay.jsonl")
    assert len(expected) > 10_000
    run_cli("produce", "--topic-prefix", prefix, str(olist_events))
    out = tmp_path / "backtest.jsonl"
    run_cli("backtest", "--from-topics", "--topic-prefix", prefix, "--out", str(out))
    assert sorted(out.read_bytes().splitlines()) == sorted(expected)
    worker = workers(prefix, "a", SELLERWATCH_SNAPSHOT_INTERVAL_S="300")
    total = 115_297
    last_ts = max(orjson.loads(line)["ts"] for line in gzip.open(olist_events))
    wait_for(lambda: _engine_done([worker], total, last_ts), 240, "the engine")
    assert sorted(read_verdicts(prefix)) == sorted(expected)

"""The Redis read model against a real ``redis-server`` that goes away: stopped, hung, emptied.

Nothing the worker committed meanwhile is missing once Redis answers again; a Redis that
stops answering fails a write within the call deadline instead of holding it; and what a
killed owner never wrote is written by the next, or reported as missing until a rebuild.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

import orjson
import pytest
import redis

from sellerwatch.agents.readmodel import CALL_TIMEOUT_S, ReadModel, progress_key
from sellerwatch.schemas.verdict import Evaluation
from tests.integration.own_redis import OwnRedis

pytestmark = pytest.mark.integration


def _figures(item: str, numerator: int) -> Evaluation:
    return Evaluation("pickup48", item, "2024-06-04", 1717430400000, numerator, 10, None)


def test_updates_while_redis_is_stopped_are_written_when_it_is_back(own_redis: OwnRedis) -> None:
    async def run() -> None:
        model = ReadModel(own_redis.url, "p.", retry_first_s=0.1, retry_max_s=0.5)
        model.submit([], [_figures("I1", 1)])
        assert await model.flushed(10)
        own_redis.stop()
        model.submit([], [_figures("I1", 2), _figures("I2", 7)])
        await asyncio.sleep(1)  # a few failed attempts
        assert model.failed_writes >= 1 and model.keys_waiting == 2
        own_redis.start()  # empty: no persistence
        assert await model.flushed(10)
        await model.close()

    asyncio.run(run())
    assert own_redis.read("I1") == 2 and own_redis.read("I2") == 7


def test_a_hung_redis_fails_a_write_within_the_call_deadline_not_forever(
    own_redis: OwnRedis,
) -> None:
    async def run() -> None:
        model = ReadModel(own_redis.url, "p.", retry_first_s=0.1, retry_max_s=0.5)
        model.submit([], [_figures("I1", 1)])
        assert await model.flushed(10)
        assert own_redis.process is not None
        os.killpg(own_redis.process.pid, signal.SIGSTOP)  # accepts nothing, answers nothing
        try:
            model.submit([], [_figures("I1", 3)])
            started = time.monotonic()
            while model.failed_writes == 0:
                assert time.monotonic() - started < CALL_TIMEOUT_S + 5, "the write hung"
                await asyncio.sleep(0.1)
        finally:
            os.killpg(own_redis.process.pid, signal.SIGCONT)
        assert await model.flushed(CALL_TIMEOUT_S * 3)
        await model.close()

    asyncio.run(run())
    assert own_redis.read("I1") == 3


# -- a take-over after a worker that never wrote what it committed ----------------------------
#
# Each ReadModel below stands for one engine owner in turn; the log offsets are the engine
# log's. A killed owner's staged writes die with it; the next owner re-derives the outputs of
# the log it replays, from its snapshot's offset, and Redis says whether that was enough.


def _progress(server: OwnRedis) -> dict[str, str]:
    raw = redis.Redis.from_url(server.url).hgetall(progress_key("p."))
    return {k.decode(): v.decode() for k, v in raw.items()}  # type: ignore[union-attr]


async def _owner(
    server: OwnRedis, replayed: list[Evaluation], replayed_from: int | None, log_offset: int
) -> ReadModel:
    """A new owner: what its replay re-derived, then its take-over's end."""
    model = ReadModel(server.url, "p.", retry_first_s=0.1, retry_max_s=0.5)
    model.submit([], replayed)
    model.recovered(replayed_from, log_offset)
    assert await model.flushed(10)
    return model


def test_a_replay_that_covers_what_the_killed_owner_did_not_write_mends_redis(
    own_redis: OwnRedis,
) -> None:
    async def run() -> None:
        first = ReadModel(own_redis.url, "p.")
        first.submit([], [_figures("I1", 1)], log_offset=10)
        assert await first.flushed(10)
        await first.close()  # it committed I1 = 2 at offset 14, then was killed: never written
        second = await _owner(own_redis, [_figures("I1", 2)], replayed_from=8, log_offset=14)
        assert second.stats()["missing"] is None
        second.submit([], [_figures("I2", 5)], log_offset=15)
        assert await second.flushed(10)
        await second.close()

    asyncio.run(run())
    assert own_redis.read("I1") == 2 and own_redis.read("I2") == 5
    assert _progress(own_redis) == {"log_offset": "15"}


def test_a_gap_before_the_replay_is_recorded_and_reported_until_a_rebuild(
    own_redis: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis holds offsets < 5 only; the snapshot restored is at 12: 5..11 are nowhere."""

    async def run() -> None:
        first = ReadModel(own_redis.url, "p.")
        first.submit([], [_figures("I1", 1)], log_offset=5)
        assert await first.flushed(10)
        await first.close()
        with caplog.at_level(logging.ERROR):
            second = await _owner(own_redis, [_figures("I2", 3)], replayed_from=12, log_offset=20)
        gap = {"after_log_offset": 5, "before_log_offset": 12}
        assert second.stats()["missing"] == gap
        assert "reads them back" in caplog.text
        second.submit([], [_figures("I2", 4)], log_offset=21)
        assert await second.flushed(10)
        await second.close()
        assert orjson.loads(_progress(own_redis)["missing"]) == gap
        # the next owner, although its own replay is covered, still reports the old gap
        third = await _owner(own_redis, [], replayed_from=21, log_offset=22)
        assert third.stats()["missing"] == gap
        await third.mark_rebuilt()  # what rebuild-read-model does once it wrote everything
        await third.close()
        fourth = await _owner(own_redis, [_figures("I2", 4)], replayed_from=22, log_offset=23)
        assert fourth.stats()["missing"] is None
        await fourth.close()

    asyncio.run(run())
    assert _progress(own_redis) == {"log_offset": "23"}


def test_an_emptied_redis_beside_a_snapshot_is_a_gap_and_a_whole_log_replay_is_not(
    own_redis: OwnRedis,
) -> None:
    async def run() -> None:
        restored = await _owner(own_redis, [_figures("I1", 1)], replayed_from=30, log_offset=40)
        assert restored.stats()["missing"] == {"after_log_offset": None, "before_log_offset": 30}
        await restored.close()
        whole = await _owner(own_redis, [_figures("I1", 1)], replayed_from=None, log_offset=3)
        assert whole.stats()["missing"] is None
        await whole.close()

    asyncio.run(run())
    assert _progress(own_redis) == {"log_offset": "3"}  # a log started anew (reset) may be lower


def test_an_owner_that_lost_the_engine_and_writes_late_never_lowers_the_mark(
    own_redis: OwnRedis,
) -> None:
    async def run() -> None:
        successor = ReadModel(own_redis.url, "p.")
        successor.submit([], [_figures("I1", 2)], log_offset=20)
        assert await successor.flushed(10)
        late = ReadModel(own_redis.url, "p.")
        late.submit([], [_figures("I1", 1)], log_offset=15)
        assert await late.flushed(10)
        await successor.close()
        await late.close()

    asyncio.run(run())
    assert _progress(own_redis) == {"log_offset": "20"}


def test_a_redis_that_lost_its_data_under_a_running_worker_is_reported_at_the_next_write(
    own_redis: OwnRedis,
) -> None:
    """A restart without persistence: what the worker wrote before is gone, and only Kafka
    has it; nothing else would say so until some take-over."""

    async def run() -> None:
        model = ReadModel(own_redis.url, "p.", retry_first_s=0.1, retry_max_s=0.5)
        model.submit([], [_figures("I1", 1)], log_offset=5)
        assert await model.flushed(10)
        own_redis.stop()
        own_redis.start()  # empty
        model.submit([], [_figures("I2", 2)], log_offset=6)
        assert await model.flushed(10)
        assert model.stats()["missing"] == {"after_log_offset": None, "before_log_offset": 5}
        await model.close()

    asyncio.run(run())
    progress = _progress(own_redis)
    assert progress["log_offset"] == "6"
    assert orjson.loads(progress["missing"]) == {"after_log_offset": None, "before_log_offset": 5}


def test_the_outputs_count_as_written_only_once_redis_took_them(own_redis: OwnRedis) -> None:
    """What holds a snapshot back (``EngineRunner._outputs_written``)."""

    async def run() -> None:
        model = ReadModel(own_redis.url, "p.", retry_first_s=0.1, retry_max_s=0.5)
        assert model.written_through(3)  # nothing submitted: nothing waits
        model.submit([], [_figures("I1", 1)], log_offset=5)
        assert await model.flushed(10)
        assert model.written_through(5) and model.written_through(9)  # 5..8: no outputs
        own_redis.stop()
        model.submit([], [_figures("I1", 2)], log_offset=9)
        await asyncio.sleep(0.5)
        assert model.written_through(5) and not model.written_through(9)
        own_redis.start()
        assert await model.flushed(10)
        assert model.written_through(9)
        await model.close()

    asyncio.run(run())


def test_a_refill_fills_the_gap_but_never_overwrites_what_the_engine_wrote_since(
    own_redis: OwnRedis,
) -> None:
    """The worker reads the output topics back while the engine runs on: a field the engine
    submitted after the refill began is newer than anything read back."""
    found: list[str] = []

    async def run() -> None:
        model = ReadModel(own_redis.url, "p.", retry_first_s=0.1, retry_max_s=0.5)
        model.on_missing = lambda: found.append("gap")
        model.submit([], [_figures("I0", 1)])
        model.recovered(12, 20)  # Redis holds no progress: everything before 12 may be missing
        assert await model.flushed(10)
        assert found == ["gap"] and model.stats()["missing"] is not None
        model.begin_refill()
        model.submit([], [_figures("I1", 9)], log_offset=21)  # committed during the read
        read_back = [_figures("I1", 3), _figures("I2", 4)]  # I1's is older than the engine's
        model.finish_refill([], read_back)
        assert await model.flushed(10)
        assert model.stats()["missing"] is None
        await model.close()

    asyncio.run(run())
    assert [own_redis.read(i) for i in ("I0", "I1", "I2")] == [1, 9, 4]
    assert _progress(own_redis) == {"log_offset": "21"}


def test_a_lost_redis_found_at_a_write_asks_for_a_refill(own_redis: OwnRedis) -> None:
    found: list[str] = []

    async def run() -> None:
        model = ReadModel(own_redis.url, "p.", retry_first_s=0.1, retry_max_s=0.5)
        model.on_missing = lambda: found.append("gap")
        model.submit([], [_figures("I1", 1)], log_offset=5)
        assert await model.flushed(10)
        own_redis.stop()
        own_redis.start()
        model.submit([], [_figures("I2", 2)], log_offset=6)
        assert await model.flushed(10)
        await model.close()

    asyncio.run(run())
    assert found == ["gap"]

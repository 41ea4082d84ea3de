"""Deadlines, the dead-sender watch and the rebuild budget, with stand-in clients."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from sellerwatch.agents.deadlines import (
    Deadlines,
    RebuildBudget,
    StageGaveUp,
    StageStalled,
    describe,
    keep_rebuilding,
    sender_died,
    stop_client,
    within,
)
from sellerwatch.agents.settings import SettingsError


def _producer(sender: asyncio.Future[Any] | None) -> Any:
    """Shaped like aiokafka's producer where the watch looks: ``_sender._sender_task``."""
    return SimpleNamespace(_sender=SimpleNamespace(_sender_task=sender))


async def _forever() -> None:
    await asyncio.Event().wait()


def test_a_step_within_its_deadline_returns_its_result() -> None:
    async def step() -> int:
        await asyncio.sleep(0)
        return 7

    assert asyncio.run(within(1.0, step(), "a step")) == 7


def test_a_step_past_its_deadline_is_a_stall_naming_the_step() -> None:
    with pytest.raises(StageStalled, match=r"send_offsets_to_transaction took longer than 0.05s"):
        asyncio.run(within(0.05, _forever(), "send_offsets_to_transaction"))


def test_the_stall_names_the_part_of_a_long_step_that_was_running() -> None:
    part = ["begin_transaction"]

    async def transaction() -> None:
        part[0] = "commit_transaction"
        await _forever()

    with pytest.raises(StageStalled, match="commit_transaction took longer"):
        asyncio.run(within(0.05, transaction(), lambda: part[0]))


def test_a_dying_sender_ends_the_wait_at_once_not_at_the_deadline() -> None:
    """aiokafka #907/#1004: the sender task dies and the offsets future never resolves."""

    async def scenario() -> float:
        async def sender() -> None:
            await asyncio.sleep(0.05)
            raise KeyError("TopicPartition(topic='t', partition=0)")

        task = asyncio.ensure_future(sender())
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(StageStalled, match="sender task died .KeyError"):
            await within(30.0, _forever(), "send_offsets_to_transaction", _producer(task))
        return loop.time() - started

    assert asyncio.run(scenario()) < 5.0


def test_a_sender_already_dead_fails_the_step_without_running_it() -> None:
    ran: list[bool] = []

    async def step() -> None:
        ran.append(True)

    async def scenario() -> None:
        dead = asyncio.get_running_loop().create_future()
        dead.set_exception(RuntimeError("boom"))
        dead.exception()
        with pytest.raises(StageStalled, match="RuntimeError: boom"):
            await within(1.0, step(), "begin_transaction", _producer(dead))

    asyncio.run(scenario())
    assert ran == []


def test_sender_died_is_none_while_the_sender_runs_or_never_started() -> None:
    async def scenario() -> None:
        running = asyncio.ensure_future(_forever())
        assert sender_died(_producer(running)) is None
        assert sender_died(_producer(None)) is None
        assert sender_died(object()) is None
        running.cancel()
        await asyncio.wait({running})
        assert sender_died(_producer(running)) == "the producer's sender task was cancelled"

    asyncio.run(scenario())


def test_a_client_that_does_not_stop_is_closed_anyway() -> None:
    closed: list[bool] = []

    async def close() -> None:
        closed.append(True)

    async def scenario() -> None:
        sender = asyncio.ensure_future(_forever())
        client = SimpleNamespace(
            stop=_forever,
            client=SimpleNamespace(close=close),
            _sender=SimpleNamespace(_sender_task=sender),
        )
        await stop_client(client, 0.05, "the engine's producer")
        await asyncio.sleep(0)
        assert sender.cancelled()

    asyncio.run(scenario())
    assert closed == [True]


def test_the_budget_waits_longer_each_time_and_gives_up_at_its_limit() -> None:
    budget = RebuildBudget(4, min_s=0, first_delay_s=0.5, max_delay_s=1.5)
    delays = [budget.failed("engine", OSError("down")) for _ in range(3)]
    assert delays == [0.5, 1.0, 1.5]
    with pytest.raises(StageGaveUp, match="engine: 4 failures in a row .*OSError: down"):
        budget.failed("engine", OSError("down"))


def test_a_short_outage_is_not_a_give_up_however_many_failures() -> None:
    """A broker restart fails every rebuild for a while; the worker must ride it out."""
    budget = RebuildBudget(2, min_s=60)
    assert [budget.failed("engine", OSError()) for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_a_failure_at_every_take_over_gives_up_though_the_broker_answers_between(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A record no transaction can carry fails each take-over; the stand-by polls between
    them prove only that the broker answers, so the failures add up to a give-up (they used
    to reset it: "failure 1 of 7" forever). Failures ten minutes apart start over."""
    now = [1000.0]
    monkeypatch.setattr("sellerwatch.agents.deadlines.time.monotonic", lambda: now[0])
    budget = RebuildBudget(4, min_s=5)
    with pytest.raises(StageGaveUp, match="4 failures in a row"):
        for _ in range(4):
            budget.failed("engine", OSError("MessageSizeTooLargeError"))
            now[0] += 2.0
            budget.settled()  # a stand-by poll after the rebuild
    budget = RebuildBudget(2, min_s=0)
    budget.failed("engine", OSError())
    now[0] += 601
    budget.settled()
    assert budget.failed("engine", OSError()) == 0.5  # the first of a new incident


def test_a_commit_resets_the_budget() -> None:
    budget = RebuildBudget(2)
    budget.failed("engine", OSError())
    budget.ok()
    assert budget.failed("engine", OSError()) == 0.5


def test_keep_rebuilding_logs_one_line_per_incident_and_runs_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts: list[int] = []
    restarts: list[int] = []

    async def attempt() -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise StageStalled("commit_transaction took longer than 20s")

    budget = RebuildBudget(5, first_delay_s=0.01)
    with caplog.at_level(logging.INFO, logger="sellerwatch.agents.deadlines"):
        asyncio.run(
            keep_rebuilding("engine", attempt, asyncio.Event(), budget, lambda: restarts.append(1))
        )
    assert len(attempts) == 3 and len(restarts) == 2
    lines = [r for r in caplog.records if r.name == "sellerwatch.agents.deadlines"]
    assert [r.getMessage().split(";")[0] for r in lines] == [
        "engine: StageStalled: commit_transaction took longer than 20s"
    ] * 2
    assert all(r.exc_info is None for r in lines)


def test_keep_rebuilding_gives_up_with_the_last_error() -> None:
    async def attempt() -> None:
        raise ConnectionError("broker gone")

    with pytest.raises(StageGaveUp, match="3 failures in a row.*ConnectionError: broker gone"):
        asyncio.run(
            keep_rebuilding(
                "engine", attempt, asyncio.Event(), RebuildBudget(3, min_s=0, first_delay_s=0)
            )
        )


def test_deadlines_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELLERWATCH_KAFKA_STEP_TIMEOUT_S", "4.5")
    monkeypatch.setenv("SELLERWATCH_STAGE_GIVE_UP_AFTER", "3")
    assert Deadlines.from_env() == Deadlines(step_s=4.5, give_up_after=3)
    monkeypatch.setenv("SELLERWATCH_KAFKA_STEP_TIMEOUT_S", "soon")
    with pytest.raises(SettingsError, match="SELLERWATCH_KAFKA_STEP_TIMEOUT_S must be a number"):
        Deadlines.from_env()


def test_a_step_cancelled_inside_the_client_is_a_stall_not_a_silent_end() -> None:
    """A producer closed under ``await sent`` cancels the batch future the step awaits."""

    async def scenario() -> None:
        future = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.01, future.cancel)
        with pytest.raises(StageStalled, match="was cancelled inside the Kafka client"):
            await within(5.0, future, "send (decision record)")

    asyncio.run(scenario())


def test_keep_rebuilding_runs_again_after_a_stray_cancellation() -> None:
    attempts: list[int] = []

    async def attempt() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise asyncio.CancelledError

    asyncio.run(
        keep_rebuilding("engine", attempt, asyncio.Event(), RebuildBudget(3, first_delay_s=0))
    )
    assert len(attempts) == 2


def test_keep_rebuilding_stops_when_it_is_cancelled_itself() -> None:
    async def scenario() -> None:
        task = asyncio.ensure_future(
            keep_rebuilding("engine", _forever, asyncio.Event(), RebuildBudget(3))
        )
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())


def test_an_incident_is_described_in_one_line_naming_its_class_once() -> None:
    assert describe(KafkaConnectionError("Unable to bootstrap")) == (
        "KafkaConnectionError: Unable to bootstrap"
    )
    assert describe(OSError("a\nb")) == "OSError: a"
    assert describe(TimeoutError()) == "TimeoutError"

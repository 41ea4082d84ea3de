"""``/healthz`` and ``/ready`` answers, the broker probe, and the bearer token of the web views."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from sellerwatch.agents.health import (
    BrokerProbe,
    liveness,
    readiness,
    token_allows,
    token_middleware,
)
from sellerwatch.agents.stage_health import StageProgress

UP = (True, "ok")


def _runner(*, active: bool, failures: int = 0) -> Any:
    return SimpleNamespace(active=active, budget=SimpleNamespace(failures=failures))


def test_liveness_fails_only_when_input_waits_and_nothing_was_committed_for_too_long() -> None:
    progress = StageProgress(last_progress=100.0, input_waiting=True)
    assert liveness(progress, 60, now=150.0).status == 200
    stalled = liveness(progress, 60, now=161.0)
    assert stalled.status == 503
    assert stalled.body["status"] == "stalled"
    assert stalled.body["seconds_since_progress"] == 61.0


def test_a_long_quiet_stage_with_nothing_waiting_is_alive() -> None:
    progress = StageProgress(last_progress=0.0, input_waiting=False)
    answer = liveness(progress, 60, now=10_000.0)
    assert (answer.status, answer.body["status"]) == (200, "alive")


def test_ready_names_the_caught_up_owner() -> None:
    progress = StageProgress(caught_up=True, lag={"payments:0": 0})
    answer = readiness(_runner(active=True), progress, UP)
    assert answer.status == 200
    assert answer.body == {"ready": True, "role": "owner", "caught_up": True, "lag": 0}


def test_an_owner_still_catching_up_is_not_ready() -> None:
    progress = StageProgress(caught_up=False, lag={"payments:0": 500, "refunds:1": 20})
    answer = readiness(_runner(active=True), progress, UP)
    assert answer.status == 503
    assert answer.body["role"] == "owner"
    assert answer.body["lag"] == 520


def test_a_polling_stand_by_is_ready_and_says_so() -> None:
    progress = StageProgress(last_progress=100.0)
    answer = readiness(_runner(active=False), progress, UP, now=101.0)
    assert answer.status == 200
    assert answer.body == {"ready": True, "role": "stand-by"}


def test_a_stand_by_that_stopped_polling_is_not_ready() -> None:
    progress = StageProgress(last_progress=100.0)
    answer = readiness(_runner(active=False), progress, UP, now=200.0)
    assert answer.status == 503
    assert answer.body["role"] == "stand-by"


def test_a_worker_cut_off_from_the_broker_is_not_ready_even_as_owner() -> None:
    progress = StageProgress(caught_up=True)
    answer = readiness(
        _runner(active=True), progress, (False, "KafkaConnectionError: Unable to bootstrap")
    )
    assert answer.status == 503
    assert "cut off from the broker" in answer.body["reason"]
    assert "Unable to bootstrap" in answer.body["reason"]


def test_a_rebuilding_stage_and_a_starting_worker_are_not_ready() -> None:
    progress = StageProgress(caught_up=True)
    assert readiness(_runner(active=True, failures=2), progress, UP).status == 503
    starting = readiness(None, progress, UP)
    assert starting.status == 503
    assert "starting" in starting.body["reason"]


async def test_the_broker_probe_caches_its_answer_and_reports_the_failure() -> None:
    calls = 0

    async def check() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("broker gone")

    probe = BrokerProbe(check, every_s=60)
    first = await probe.status()
    second = await probe.status()
    assert first == second == (False, "ConnectionError: broker gone")
    assert calls == 1


async def test_a_broker_check_that_hangs_counts_as_unreachable() -> None:
    async def hang() -> None:
        await asyncio.sleep(10)

    probe = BrokerProbe(hang, timeout_s=0.05)
    reachable, detail = await probe.status()
    assert not reachable
    assert detail == "TimeoutError"


def test_the_token_rule() -> None:
    assert token_allows(None, "/stats/", None)
    assert token_allows("s3cret", "/healthz", None)
    assert token_allows("s3cret", "/metrics", "Bearer s3cret")
    assert not token_allows("s3cret", "/metrics", None)
    assert not token_allows("s3cret", "/metrics", "Bearer wrong")
    assert not token_allows("s3cret", "/ready", "Basic s3cret")


async def _client(token: str | None) -> TestClient[Any, Any]:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application(middlewares=[token_middleware(token)])
    for path in ("/healthz", "/ready", "/metrics", "/stats/"):
        app.router.add_get(path, ok)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_with_a_token_every_view_but_healthz_answers_401_without_it() -> None:
    client = await _client("s3cret")
    try:
        assert (await client.get("/healthz")).status == 200
        for path in ("/ready", "/metrics", "/stats/"):
            refused = await client.get(path)
            assert refused.status == 401, path
            assert refused.headers["WWW-Authenticate"].startswith("Bearer")
            assert "bearer token" in (await refused.json())["error"]
            allowed = await client.get(path, headers={"Authorization": "Bearer s3cret"})
            assert allowed.status == 200, path
    finally:
        await client.close()


async def test_without_a_token_the_views_are_open() -> None:
    client = await _client(None)
    try:
        assert (await client.get("/metrics")).status == 200
    finally:
        await client.close()

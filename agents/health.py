"""What ``/healthz`` and ``/ready`` answer, and the bearer token that guards the other views.

Liveness and readiness ask different questions. Liveness: should the supervisor kill this
process? Only when the stage has made no progress for ``SELLERWATCH_LIVENESS_S`` while records
wait (a long take-over with nothing waiting is not a hang). Readiness: is this worker doing its
job right now? The engine owner once it has caught up, or a stand-by that polls its group — and
neither while the broker cannot be reached.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sellerwatch.agents.stage_health import StageProgress

log = logging.getLogger(__name__)

#: A stand-by polls its group every ~100 ms; silent this long, it is not a healthy stand-by.
STANDBY_STALE_S = 30.0
#: Paths that need no token: a kubelet's liveness probe carries no secret.
OPEN_PATHS = frozenset({"/healthz", "/healthz/"})


@dataclass(frozen=True)
class Answer:
    """An HTTP status and a JSON body."""

    status: int
    body: dict[str, Any]


def liveness(progress: StageProgress, limit_s: float, now: float | None = None) -> Answer:
    """503 when nothing was committed for ``limit_s`` while input is waiting."""
    now = time.monotonic() if now is None else now
    quiet_s = round(now - progress.last_progress, 3)
    body: dict[str, Any] = {
        "seconds_since_progress": quiet_s,
        "input_waiting": progress.input_waiting,
        "limit_s": limit_s,
    }
    if progress.input_waiting and quiet_s > limit_s:
        return Answer(503, {"status": "stalled", **body})
    return Answer(200, {"status": "alive", **body})


def readiness(
    runner: Any,
    progress: StageProgress,
    broker: tuple[bool, str],
    now: float | None = None,
) -> Answer:
    """200 for a caught-up engine owner or a healthy stand-by; the body says which.

    ``runner`` is the engine stage (``None`` before the topics exist); ``broker`` is the last
    broker check, ``(reachable, detail)``.
    """
    now = time.monotonic() if now is None else now
    reachable, detail = broker
    if not reachable:
        return Answer(
            503, {"ready": False, "role": None, "reason": f"cut off from the broker: {detail}"}
        )
    if runner is None:
        return Answer(503, {"ready": False, "role": None, "reason": "starting (creating topics)"})
    failures = getattr(getattr(runner, "budget", None), "failures", 0)
    if failures:
        return Answer(
            503,
            {"ready": False, "role": None, "reason": f"rebuilding after {failures} failure(s)"},
        )
    if runner.active:
        lag = sum(progress.lag.values())
        if progress.caught_up:
            return Answer(200, {"ready": True, "role": "owner", "caught_up": True, "lag": lag})
        return Answer(
            503,
            {
                "ready": False,
                "role": "owner",
                "caught_up": False,
                "lag": lag,
                "reason": "catching up with the inputs",
            },
        )
    quiet_s = round(now - progress.last_progress, 3)
    if quiet_s > STANDBY_STALE_S:
        return Answer(
            503,
            {
                "ready": False,
                "role": "stand-by",
                "reason": f"no poll for {quiet_s:.0f}s (taking over, or stuck)",
            },
        )
    return Answer(200, {"ready": True, "role": "stand-by"})


class BrokerProbe:
    """Whether the broker answers a metadata request; asked at most every ``every_s``.

    The stages' clients do not say when they are cut off (a stand-by's empty polls look the
    same either way), so readiness asks the broker itself, with one long-lived client.
    """

    def __init__(
        self,
        check: Callable[[], Awaitable[None]],
        *,
        every_s: float = 5.0,
        timeout_s: float = 5.0,
    ) -> None:
        """``check`` raises when the broker cannot be reached."""
        self._check = check
        self.every_s, self.timeout_s = every_s, timeout_s
        self._last: tuple[bool, str] = (False, "not checked yet")
        self._checked = -float("inf")
        self._lock = asyncio.Lock()

    async def status(self) -> tuple[bool, str]:
        """``(reachable, detail)``, from cache when fresh."""
        async with self._lock:
            if time.monotonic() - self._checked < self.every_s:
                return self._last
            try:
                await asyncio.wait_for(self._check(), self.timeout_s)
                self._last = (True, "ok")
            except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
                text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                self._last = (False, f"{type(exc).__name__}: {text}" if str(exc) else text)
            self._checked = time.monotonic()
            return self._last


def kafka_check(
    bootstrap: str,
) -> tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]:
    """``(check, close)`` for :class:`BrokerProbe`: a metadata request over one aiokafka client."""
    from aiokafka.client import AIOKafkaClient

    from sellerwatch.agents.kafka_security import client_options

    client: AIOKafkaClient | None = None

    async def check() -> None:
        nonlocal client
        if client is None:
            fresh = AIOKafkaClient(bootstrap_servers=bootstrap, **client_options())
            try:
                await fresh.bootstrap()
            except BaseException:
                await fresh.close()
                raise
            client = fresh
        await client.fetch_all_metadata()

    async def close() -> None:
        if client is not None:
            await client.close()

    return check, close


def token_allows(expected: str | None, path: str, authorization: str | None) -> bool:
    """Whether a request may see ``path``: no token set, an open path, or the right bearer."""
    if expected is None or path in OPEN_PATHS:
        return True
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), expected)


def token_middleware(expected: str | None) -> Any:
    """An aiohttp middleware answering 401 to a request without the bearer token."""
    from aiohttp import web

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> Any:
        if token_allows(expected, request.path, request.headers.get("Authorization")):
            return await handler(request)
        return web.json_response(
            {"error": "a bearer token is required (Authorization: Bearer ...)"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="sellerwatch"'},
        )

    return guard

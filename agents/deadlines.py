"""Deadlines for the Kafka steps of the record path, and the rebuild-or-give-up loop.

aiokafka can hang for good: when its producer's sender task dies ("Unexpected error in sender
routine", aiokafka #907/#1004), every later ``send_offsets_to_transaction`` or
``commit_transaction`` awaits a future nobody will resolve. So every step is awaited with a
deadline *and* raced against the sender task: either way the stage gets :class:`StageStalled`,
tears itself down and rebuilds from committed state (its new transactional producer, same id,
fences the old one and aborts its open transaction). A stage that keeps failing without
committing anything raises :class:`StageGaveUp`, and the process exits non-zero so that its
supervisor (Kubernetes, Compose, systemd) starts it afresh.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar

from sellerwatch.agents.settings import SettingsError

log = logging.getLogger(__name__)
T = TypeVar("T")

#: How long a cancelled step may take to unwind before it is left behind.
_UNWIND_S = 1.0


class StageStalled(Exception):  # noqa: N818 - names the incident, as operators will read it
    """A Kafka step missed its deadline, or the producer's sender task died."""


class StageGaveUp(Exception):  # noqa: N818 - the same
    """Rebuilding kept failing without a committed transaction: the process must exit."""

    #: The process's exit status (:func:`exit_nonzero`).
    exit_status = 1


class StateRefused(StageGaveUp):
    """The engine's snapshot cannot be restored by this worker (another policy or format, or
    damaged records): retrying cannot help, the operator must choose (``sellerwatch reset``)."""

    exit_status = 2


def _env_seconds(name: str, default: float) -> float:
    value = os.environ.get(f"SELLERWATCH_{name}", "")
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise SettingsError(f"SELLERWATCH_{name} must be a number, not {value!r}") from None
    if seconds <= 0:
        raise SettingsError(f"SELLERWATCH_{name} must be positive, not {value!r}")
    return seconds


@dataclass(frozen=True)
class Deadlines:
    """How long each kind of step may take, and how many failed rebuilds end the process."""

    #: One call on the record path: a getmany, an offsets query, or a whole transaction
    #: (begin, sends, offsets, commit), a little longer than its 15 s transaction timeout.
    step_s: float = 20.0
    #: Starting or stopping a client (a new transactional producer may wait for the broker to
    #: abort its predecessor's transaction).
    client_s: float = 60.0
    #: Stopping a client (a producer flushes, a consumer leaves its group): past this, its
    #: connections are closed anyway.
    stop_s: float = 10.0
    #: Reading the newest snapshot from the state topic.
    snapshot_s: float = 120.0
    #: Consecutive failures without a committed transaction before the process exits.
    give_up_after: int = 8
    #: ... and at least this long since the first of them (a broker restart is not a give-up).
    give_up_min_s: float = 120.0

    @classmethod
    def from_env(cls) -> Deadlines:
        """``SELLERWATCH_KAFKA_STEP_TIMEOUT_S``, ``SELLERWATCH_STAGE_GIVE_UP_AFTER`` (failures)
        and ``SELLERWATCH_STAGE_GIVE_UP_S`` (seconds)."""
        give_up = _env_seconds("STAGE_GIVE_UP_AFTER", cls.give_up_after)
        return cls(
            step_s=_env_seconds("KAFKA_STEP_TIMEOUT_S", cls.step_s),
            give_up_after=int(give_up),
            give_up_min_s=_env_seconds("STAGE_GIVE_UP_S", cls.give_up_min_s),
        )


def sender_task(producer: Any) -> asyncio.Task[Any] | None:
    """The producer's background sender task (aiokafka keeps it as a private attribute)."""
    sender = getattr(producer, "_sender", None)
    return getattr(sender, "_sender_task", None)


def sender_died(producer: Any) -> str | None:
    """Why the producer's sender task ended, or ``None`` while it runs (or never started)."""
    task = sender_task(producer)
    if task is None or not task.done():
        return None
    if task.cancelled():
        return "the producer's sender task was cancelled"
    return f"the producer's sender task died ({describe(task.exception())})"


def describe(exc: BaseException | None) -> str:
    """One line for a log: the class and the message, if any."""
    if exc is None:
        return "no error"
    name = type(exc).__name__
    text = str(exc).strip().splitlines()
    if not text:
        return name
    # aiokafka's errors already start with their class name
    return text[0] if text[0].startswith(name) else f"{name}: {text[0]}"


async def within(
    seconds: float,
    step: Awaitable[T],
    what: str | Callable[[], str],
    producer: Any = None,
) -> T:
    """Await ``step``; :class:`StageStalled` past ``seconds`` or if ``producer``'s sender dies.

    ``what`` names the step in the error (a callable is asked when the deadline passes, so a
    long step can say which part of it was running).
    """
    dead = sender_died(producer) if producer is not None else None
    if dead is not None:
        if asyncio.iscoroutine(step):
            step.close()
        raise StageStalled(f"{_name(what)}: {dead}")
    task = asyncio.ensure_future(step)
    watched: set[asyncio.Future[Any]] = {task}
    sender = sender_task(producer) if producer is not None else None
    if sender is not None:
        watched.add(sender)
    try:
        done, _ = await asyncio.wait(watched, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        raise
    if task in done:
        if task.cancelled():
            # Not us being cancelled: aiokafka cancels its futures when a client is closed under
            # a waiting step (say, the producer stopped by a rebalance). Left as CancelledError,
            # it would end the stage's task silently.
            raise StageStalled(f"{_name(what)} was cancelled inside the Kafka client")
        return task.result()
    task.cancel()
    await asyncio.wait({task}, timeout=_UNWIND_S)
    if task.done() and not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" noise
    dead = sender_died(producer) if producer is not None else None
    if dead is not None:
        raise StageStalled(f"{_name(what)}: {dead}")
    raise StageStalled(f"{_name(what)} took longer than {seconds:g}s")


def _name(what: str | Callable[[], str]) -> str:
    return what if isinstance(what, str) else what()


async def stop_client(client: Any, seconds: float, what: str) -> None:
    """Stop an aiokafka client within ``seconds``; past that, close its connections anyway.

    Stopping flushes a producer and leaves a consumer's group, both of which wait for a broker
    that may be gone. A torn-down stage must not hang on its own teardown.
    """
    try:
        await asyncio.wait_for(client.stop(), seconds)
        return
    except Exception as exc:  # noqa: BLE001 - tearing down: report and force
        log.info("%s did not stop cleanly (%s); closing its connections", what, describe(exc))
    task = sender_task(client)
    if task is not None and not task.done():
        task.cancel()
    connections = getattr(client, "client", None) or getattr(client, "_client", None)
    if connections is not None:
        with suppress(Exception):
            await asyncio.wait_for(connections.close(), _UNWIND_S * 5)


class RebuildBudget:
    """Counts failures since the last committed transaction; too many is :class:`StageGaveUp`."""

    def __init__(
        self,
        limit: int,
        *,
        min_s: float = 120.0,
        first_delay_s: float = 0.5,
        max_delay_s: float = 10.0,
    ) -> None:
        """Give up at the ``limit``-th failure in a row, if ``min_s`` passed since the first;
        wait longer after each one."""
        self.limit = max(1, limit)
        self.min_s = min_s
        self.first_delay_s, self.max_delay_s = first_delay_s, max_delay_s
        self.failures = 0
        self.first_failure = self.last_failure = 0.0

    def ok(self) -> None:
        """A transaction committed (or a poll found nothing waiting): the stage works again."""
        self.failures = 0

    def settled(self, quiet_s: float = 600.0) -> None:
        """A poll that proves only that the broker answers (a stand-by's, or a coordinator's
        waiting for answers): the failures count again from zero once none came for
        ``quiet_s``. Resetting at every such poll let a failure that recurs at each take-over
        (a record no transaction could carry) rebuild forever, counting "failure 1" each time;
        not resetting at all would end a stand-by for incidents weeks apart."""
        if self.failures and time.monotonic() - self.last_failure >= quiet_s:
            self.failures = 0

    def failed(self, name: str, exc: BaseException) -> float:
        """Count a failure; the seconds to wait before rebuilding, or :class:`StageGaveUp`."""
        now = time.monotonic()
        self.failures += 1
        self.last_failure = now
        if self.failures == 1:
            self.first_failure = now
        if self.failures >= self.limit and now - self.first_failure >= self.min_s:
            raise StageGaveUp(
                f"{name}: {self.failures} failures in a row without a committed transaction "
                f"in {now - self.first_failure:.0f}s, the last: {describe(exc)}"
            ) from exc
        delay: float = self.first_delay_s * 2 ** (self.failures - 1)
        return min(delay, self.max_delay_s)


async def keep_rebuilding(
    name: str,
    attempt: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    budget: RebuildBudget,
    on_restart: Callable[[], None] | None = None,
) -> None:
    """Run ``attempt`` until it returns or ``stop``; after a failure, wait and run it again.

    ``attempt`` builds its clients from scratch and tears them down itself, so each run starts
    from committed state. One log line per incident; the traceback only at debug level.
    """
    while not stop.is_set():
        failure: Exception
        try:
            await attempt()
            return
        except StageGaveUp:
            raise
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is None or current.cancelling():
                raise  # we are being stopped
            # aiokafka cancels its own futures when a client closes under a waiting step
            failure = StageStalled("a step was cancelled inside the Kafka client")
        except Exception as exc:  # noqa: BLE001 - every stage's state is recoverable from Kafka
            failure = exc
        delay = budget.failed(name, failure)
        log.warning(
            "%s: %s; rebuilding from committed state in %.1fs (failure %d of %d allowed "
            "without a commit)",
            name,
            describe(failure),
            delay,
            budget.failures,
            budget.limit - 1,
        )
        log.debug("%s failure details", name, exc_info=failure)
        if on_restart is not None:
            on_restart()
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)


#: The exit status of a worker whose stage gave up (the supervisor restarts it).
EXIT_GAVE_UP = 1
#: How long an orderly shutdown may take before the process exits anyway.
_EXIT_GRACE_S = 30.0


async def exit_nonzero(app: Any, exc: StageGaveUp) -> None:
    """End the worker process with :data:`EXIT_GAVE_UP`: an orderly crash, forced if it hangs."""
    status = exc.exit_status
    log.critical("%s; exiting with status %d for the supervisor to restart", exc, status)
    if isinstance(exc, StateRefused):  # nothing was restored or written: no orderly shutdown
        logging.shutdown()  # flush the line above: it is what the operator will read
        os._exit(status)
    asyncio.get_running_loop().call_later(_EXIT_GRACE_S, os._exit, status)
    await app.crash(exc)

"""A deadline on the worker's stop: past it, the process exits anyway.

Faust stops its own consumer thread first, and with the broker gone aiokafka's fetcher keeps
retrying until mode's shutdown timeout (60 s) gives up on the thread: measured, 62 s from SIGTERM
to exit with the broker down. Kubernetes kills a pod 30 s after SIGTERM and Compose after 10 s,
so the worker would be SIGKILLed mid-stop anyway. An exit forced here is as safe as that kill -9
(every stage starts again from committed state) but comes on the worker's own terms: a line in
the log saying why, and an exit status the supervisor can read.

The timer is a thread, not a call on the event loop, so a loop that is itself stuck cannot hold
the process.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from faust import Worker

log = logging.getLogger(__name__)


class StopDeadline:
    """Exit the process ``seconds`` after :meth:`arm`, with the status ``status()`` gives then."""

    def __init__(
        self,
        seconds: float,
        status: Callable[[], int],
        exit_now: Callable[[int], Any] = os._exit,
    ) -> None:
        """Nothing runs until :meth:`arm`; ``exit_now`` is replaceable for tests."""
        self.seconds = seconds
        self.status = status
        self.exit_now = exit_now
        self.timer: threading.Timer | None = None

    def arm(self) -> None:
        """Start the countdown (once: a second stop does not restart it)."""
        if self.timer is not None:
            return
        self.timer = threading.Timer(self.seconds, self._expire)
        self.timer.daemon = True
        self.timer.start()

    def _expire(self) -> None:
        status = self.status()
        log.warning(
            "the worker has not stopped %gs after it was asked to (is the broker reachable?); "
            "exiting with status %d now: every stage resumes from its committed state",
            self.seconds,
            status,
        )
        logging.shutdown()  # flush the line above: the process ends without unwinding
        self.exit_now(status)


def exit_status(app: Any) -> int:
    """The status a stop should end with: 0, or the one of the failure that crashed the app
    (:class:`~sellerwatch.agents.deadlines.StageGaveUp` carries it)."""
    reason = getattr(app, "crash_reason", None)
    if reason is None:
        return 0
    status = getattr(reason, "exit_status", 1)
    return status if isinstance(status, int) else 1


class BoundedStopWorker(Worker):
    """Faust's worker whose stop (SIGTERM, SIGINT or a crash) ends within ``stop_timeout_s``."""

    def __init__(self, app: Any, *, stop_timeout_s: float, **kwargs: Any) -> None:
        """As :class:`faust.Worker`, plus the deadline on :meth:`stop`."""
        super().__init__(app, **kwargs)
        self.stop_deadline = StopDeadline(stop_timeout_s, lambda: exit_status(app))

    async def stop(self) -> None:
        """Arm the deadline, then stop as Faust does."""
        self.stop_deadline.arm()
        await super().stop()

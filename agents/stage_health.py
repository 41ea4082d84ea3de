"""What a running engine stage tells the health endpoints and the metrics.

The stage (``agents.engine_runner``/``agents.direct``) writes; the web views and the metrics
exporter (``agents.app``) read. Plain attributes, so reading costs nothing on the record path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: ``listener(event, seconds, size_bytes)``: ``event`` is ``"commit"`` (a transaction committed,
#: ``seconds`` its commit latency), ``"snapshot"`` (a snapshot committed: its duration and size)
#: or ``"restart"`` (the stage was torn down and rebuilt).
Listener = Callable[[str, float, int], None]


@dataclass
class StageProgress:
    """Liveness and lag of one engine stage."""

    #: ``time.monotonic()`` of the last progress: a committed transaction, or a check that
    #: found nothing waiting.
    last_progress: float = field(default_factory=time.monotonic)
    #: Records are known to be waiting on the inputs (consumer lag > 0 at the last check).
    input_waiting: bool = False
    #: This worker owns the engine and has caught up with the end offsets seen at take-over.
    caught_up: bool = False
    #: Consumer lag per input partition, ``"topic:partition" -> records``.
    lag: dict[str, int] = field(default_factory=dict)
    #: ``time.monotonic()`` of the last committed snapshot (``None``: none yet).
    last_snapshot: float | None = None
    listeners: list[Listener] = field(default_factory=list)

    def progressed(self) -> None:
        """Something was committed, or nothing was waiting."""
        self.last_progress = time.monotonic()

    def emit(self, event: str, seconds: float = 0.0, size_bytes: int = 0) -> None:
        """Tell the listeners (metrics) about a commit, a snapshot or a restart."""
        if event == "commit":
            self.progressed()
        elif event == "snapshot":
            self.last_snapshot = time.monotonic()
        for listener in self.listeners:
            listener(event, seconds, size_bytes)


#: The process's one stage progress (a worker process runs one engine stage).
PROGRESS = StageProgress()

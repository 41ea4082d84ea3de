"""The Faust app: worker lifecycle, web endpoints, and the engine's feed as app tasks.

Faust gives the worker its CLI, logging, signal handling and web server; the record path is the
batch loops of :mod:`agents.direct` (or :mod:`agents.sequencer` and :mod:`agents.engine_runner`
with ``ingest = sequenced``): aiokafka ``getmany`` + one transaction per batch, because Faust's
per-message path costs ~150 µs per event (``BENCHMARKS.md``). No Faust agent, table, window or
timer decides business time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import faust

from agents.deadlines import StageGaveUp, exit_nonzero
from agents.direct import DirectRunner
from agents.engine_runner import EngineRunner, LogRunner
from agents.readmodel import ReadModel
from agents.sequencer import Sequencer
from agents.settings import Settings
from agents.topics import Topics, ensure_topics

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, stop_at_end: bool = False) -> faust.App:
    """A worker app; with ``stop_at_end`` it marks partitions at their end (tests, demos)."""
    topics = Topics(settings.topic_prefix)
    app = faust.App(
        topics("sellerwatch-worker"),
        broker=f"kafka://{settings.bootstrap}",
        store="memory://",
        web_port=settings.web_port,
        web_host="127.0.0.1",
        topic_partitions=1,
        producer_acks=-1,
    )
    readmodel = ReadModel(settings.redis_url, settings.topic_prefix) if settings.redis_url else None
    stop = asyncio.Event()
    state: dict[str, Any] = {}

    def on_commit(verdicts: list[Any], evaluations: list[Any]) -> None:
        """Update Redis beside the engine, coalescing while a write is in flight."""
        if readmodel is not None:
            readmodel.submit(verdicts, evaluations)

    async def supervise(name: str, make: Callable[[], Any]) -> None:
        """Run a stage; on any failure (broker gone, fenced, aborted) start it over.

        Every stage's state is recoverable from Kafka (committed offsets, engine snapshots and
        the engine log), so starting over from scratch is always correct.
        """
        delay = 0.5
        while not stop.is_set():
            stage = make()
            state[name] = stage
            try:
                await stage.run(stop)
                return
            except asyncio.CancelledError:
                raise
            except StageGaveUp as exc:  # rebuilding kept failing: let the supervisor restart us
                await exit_nonzero(app, exc)
                return
            except Exception:  # noqa: BLE001 - restart from committed state
                log.exception("%s failed; restarting from committed state in %.1fs", name, delay)
                state["restarts"] = state.get("restarts", 0) + 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    @app.task
    async def run_stages() -> None:
        while True:
            try:
                await ensure_topics(settings.bootstrap, topics, settings.input_partitions)
                break
            except Exception:  # noqa: BLE001 - the broker may still be starting
                log.exception("cannot create topics yet; retrying")
                await asyncio.sleep(1.0)
        if settings.ingest == "direct":
            await supervise(
                "runner", lambda: DirectRunner(settings, on_commit, stop_at_end=stop_at_end)
            )
            return
        await asyncio.gather(
            supervise("sequencer", lambda: Sequencer(settings, stop_at_end=stop_at_end)),
            supervise("runner", lambda: LogRunner(settings, on_commit=on_commit)),
        )

    @app.page("/status/{subject}/")
    async def status(web: Any, request: Any, subject: str) -> Any:
        if readmodel is None:
            return web.json({"error": "no redis configured"}, status=503)
        return web.json(await readmodel.read(subject))

    @app.page("/stats/")
    async def stats(web: Any, request: Any) -> Any:
        runner: EngineRunner | None = state.get("runner")
        sequencer: Sequencer | None = state.get("sequencer")
        engine = runner.engine if runner else None
        return web.json(
            {
                "ingest": settings.ingest,
                "engine_active": bool(runner and runner.active),
                # records read from the inputs: by this worker's sequencer, or by its engine
                "forwarded": sequencer.forwarded if sequencer else runner.records if runner else 0,
                "engine_records": runner.records if runner else 0,
                "verdicts_committed": runner.verdicts_committed if runner else 0,
                "snapshots_committed": runner.snapshots_committed if runner else 0,
                "watermark": runner.committed_watermark if runner else None,
                "accounting": engine.accounting.as_dict() if engine else None,
                "orphans_dropped": engine.orphans_dropped if engine else None,
                "open_orders": len(engine.state.book.orders) if engine else None,
                "restarts": state.get("restarts", 0),
            }
        )

    @app.on_before_shutdown.connect
    async def _shutdown(app: faust.App, **kwargs: Any) -> None:  # noqa: ARG001
        stop.set()
        if readmodel is not None:
            await readmodel.flushed()
            await readmodel.close()

    return app

"""The Faust app: worker lifecycle, web endpoints, and the two stages as app tasks.

Faust gives the worker its CLI, logging, signal handling and web server; the record path is the
batch loops of :mod:`agents.sequencer` and :mod:`agents.engine_runner` (aiokafka ``getmany`` +
one transaction per batch), because Faust's per-message path costs ~150 µs per event
(``BENCHMARKS.md``). No Faust agent, table, window or timer decides business time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from agents.engine_runner import EngineRunner
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

    async def on_commit(verdicts: list[Any], evaluations: list[Any]) -> None:
        if readmodel is None:
            return
        try:
            await readmodel.write(verdicts, evaluations)
        except Exception:  # noqa: BLE001 - the read model must never stop the engine
            log.exception("redis read model write failed; verdicts are on Kafka regardless")

    @app.task
    async def run_stages() -> None:
        await ensure_topics(settings.bootstrap, topics, settings.input_partitions)
        sequencer = Sequencer(settings, stop_at_end=stop_at_end)
        runner = EngineRunner(settings, on_commit=on_commit)
        state.update(sequencer=sequencer, runner=runner)
        await asyncio.gather(sequencer.run(stop), runner.run(stop))

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
                "engine_active": bool(runner and runner.active),
                "forwarded": sequencer.forwarded if sequencer else 0,
                "engine_records": runner.records if runner else 0,
                "watermark": engine.watermark if engine else None,
                "accounting": engine.accounting.as_dict() if engine else None,
                "orphans_dropped": engine.orphans_dropped if engine else None,
            }
        )

    @app.on_before_shutdown.connect
    async def _shutdown(app: faust.App, **kwargs: Any) -> None:  # noqa: ARG001
        stop.set()

    return app

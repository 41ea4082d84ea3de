"""The Faust app: worker lifecycle, web endpoints, and the engine's feed as app tasks.

Faust gives the worker its CLI, logging, signal handling and web server; the record path is the
batch loop of :mod:`agents.direct` on :mod:`agents.engine_runner`: aiokafka ``getmany`` + one
transaction per batch, because Faust's
per-message path costs ~150 µs per event (``BENCHMARKS.md``). No Faust agent, table, window or
timer decides business time.

Web views: ``/healthz`` (liveness) and ``/ready`` (readiness), :mod:`agents.health`;
``/metrics`` (Prometheus), :mod:`agents.metrics`; ``/stats/`` and ``/status/<id>/``. The server
listens on ``SELLERWATCH_WEB_BIND`` (127.0.0.1 unless told; Faust's ``web_host`` only names the
URL) and, with ``SELLERWATCH_WEB_TOKEN(_FILE)`` set, every view but ``/healthz`` wants that
bearer token.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import faust

from sellerwatch.agents.coordinator import CoordinatorRunner
from sellerwatch.agents.deadlines import StageGaveUp, describe, exit_nonzero
from sellerwatch.agents.direct import DirectRunner
from sellerwatch.agents.engine_runner import EngineRunner, Published
from sellerwatch.agents.health import (
    BrokerProbe,
    kafka_check,
    liveness,
    readiness,
    token_middleware,
)
from sellerwatch.agents.kafka_security import faust_credentials
from sellerwatch.agents.metrics import CONTENT_TYPE, Metrics
from sellerwatch.agents.partitions import PartitionRunner
from sellerwatch.agents.readmodel import ReadModel
from sellerwatch.agents.readmodel_rebuild import refill
from sellerwatch.agents.settings import Settings, web_token
from sellerwatch.agents.stage_health import PROGRESS
from sellerwatch.agents.topics import Topics, ensure_topics
from sellerwatch.schemas.verdict import Evaluation, Verdict

log = logging.getLogger(__name__)

#: Waits between attempts to create the topics (the broker may still be starting).
TOPIC_RETRY_FIRST_S, TOPIC_RETRY_MAX_S = 1.0, 30.0
#: How long a stopping worker waits for the read model's last writes (Redis may be gone).
READ_MODEL_FLUSH_S = 5.0


async def create_topics_until_done(settings: Settings, topics: Topics, stop: asyncio.Event) -> bool:
    """Create the topics, retrying with a bounded backoff; one log line per failed attempt.

    ``False`` if ``stop`` was set first.
    """
    delay = TOPIC_RETRY_FIRST_S
    while not stop.is_set():
        try:
            await ensure_topics(
                settings.bootstrap,
                topics,
                settings.input_partitions,
                input_retention_ms=settings.input_retention_ms(),
                replication_factor=settings.replication_factor,
                state_partitions=settings.partitions,
            )
            return True
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the broker may still be starting
            log.warning(
                "cannot create the topics on %s yet (%s); retrying in %.0fs",
                settings.bootstrap,
                describe(exc),
                delay,
            )
            log.debug("topic creation failure details", exc_info=True)
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                pass
            delay = min(delay * 2, TOPIC_RETRY_MAX_S)
    return False


#: Faust's consumer-group session (its default is 60 s): how long a killed worker's restart waits.
FAUST_SESSION_TIMEOUT_S = 10.0


def create_app(settings: Settings, *, stop_at_end: bool = False) -> faust.App:
    """A worker app; with ``stop_at_end`` it marks partitions at their end (tests, demos)."""
    topics = Topics(settings.topic_prefix)
    os.makedirs(settings.data_dir, exist_ok=True)  # Faust creates only the last level
    app = faust.App(
        topics("sellerwatch-worker"),
        broker=f"kafka://{settings.bootstrap}",
        broker_credentials=faust_credentials(),
        store="memory://",
        datadir=os.path.join(settings.data_dir, "{conf.id}-data"),
        web_port=settings.web_port,
        web_bind=settings.web_bind,
        web_host="localhost" if settings.web_bind in ("127.0.0.1", "::1") else settings.web_bind,
        web_application_options={"middlewares": [token_middleware(web_token())]},
        topic_partitions=1,
        producer_acks=-1,
        # Faust starts the stages only once its own consumer group has settled, and a worker
        # killed with -9 stays in that group for a whole session: its restart waited ~60 s
        # (Faust's default) before taking the engine over. Heartbeats go every 3 s.
        broker_session_timeout=FAUST_SESSION_TIMEOUT_S,
    )
    readmodel = ReadModel(settings.redis_url, settings.topic_prefix) if settings.redis_url else None
    stop = asyncio.Event()
    state: dict[str, Any] = {}
    metrics = Metrics(lambda: state.get("runner"), PROGRESS, lambda: state.get("restarts", 0))
    if readmodel is not None:
        metrics.watch_read_model(readmodel.stats)
    broker_check, close_broker_check = kafka_check(settings.bootstrap)
    broker = BrokerProbe(broker_check)

    published = WorkerOutputs(metrics, readmodel, settings)

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

    async def run_stages() -> None:
        PROGRESS.listeners.append(metrics.listen)
        if not await create_topics_until_done(settings, topics, stop):
            return
        await supervise("runner", lambda: make_runner(settings, published, stop_at_end))

    app.task(run_stages)  # called, not decorated: faust's decorator is untyped

    @app.page("/status/{subject}/")
    async def status(web: Any, request: Any, subject: str) -> Any:
        if readmodel is None:
            return web.json({"error": "no redis configured"}, status=503)
        return web.json(await readmodel.read(subject))

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        answer = liveness(PROGRESS, settings.liveness_s)
        return web.json(answer.body, status=answer.status)

    @app.page("/ready")
    async def ready(web: Any, request: Any) -> Any:
        answer = readiness(state.get("runner"), PROGRESS, await broker.status())
        return web.json(answer.body, status=answer.status)

    @app.page("/metrics")
    async def prometheus(web: Any, request: Any) -> Any:
        return web.bytes(metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    @app.page("/stats/")
    async def stats(web: Any, request: Any) -> Any:
        runner = state.get("runner")
        if isinstance(runner, PartitionRunner):
            return web.json(partition_stats(settings, runner, state.get("restarts", 0)))
        engine = runner.engine if runner else None
        return web.json(
            {
                "role": settings.role,
                "ingest": settings.ingest,
                "engine_active": bool(runner and runner.active),
                # the input partitions this worker reads (issue #9: operators see the split)
                "partitions": reading(runner),
                # records read from the inputs by this worker
                "forwarded": runner.records if runner else 0,
                "engine_records": runner.records if runner else 0,
                "verdicts_committed": runner.verdicts_committed if runner else 0,
                "snapshots_committed": runner.snapshots_committed if runner else 0,
                # seconds a finished snapshot has waited for Redis to hold the verdicts before it
                "snapshot_waiting_for_read_model_s": snapshot_held_for(runner),
                "watermark": runner.committed_watermark if runner else None,
                "accounting": engine.accounting.as_dict() if engine else None,
                "orphans_dropped": engine.orphans_dropped if engine else None,
                # a coordinator holds none: its partitions' counts at their last instant
                "open_orders": engine.open_orders if engine else None,
                # the engine's state partitions (in it, or held by partition workers)
                "state_partitions": engine.partitions if engine else None,
                # the step of an instant waiting for the partition workers' answers
                "waiting_for": engine.asking.step if engine and engine.asking else None,
                # input partitions ahead of W paused while too many records wait (read_ahead.py)
                "held_back": getattr(runner, "held_back", 0),
                # events read and accepted, waiting for W to pass them
                "waiting_events": engine.waiting if engine else None,
                "restored_from_snapshot": runner.restored_from if runner else None,
                "restarts": state.get("restarts", 0),
                # what the Redis read model does not show yet (null: no read model)
                "read_model": readmodel.stats() if readmodel is not None else None,
            }
        )

    # mode's SignalHandlerT (a union of mypy_extensions callables) accepts no async def
    # under mypy, though it calls and awaits one at runtime.
    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def _shutdown(app: faust.App, **kwargs: Any) -> None:  # noqa: ARG001
        stop.set()
        if metrics.listen in PROGRESS.listeners:
            PROGRESS.listeners.remove(metrics.listen)
        await close_broker_check()
        if readmodel is not None:
            if not await readmodel.flushed(READ_MODEL_FLUSH_S):
                log.warning(
                    "redis read model: %d keys not written at shutdown (Redis unreachable); "
                    "they show again with each subject's next verdict or figures",
                    readmodel.keys_waiting,
                )
            await readmodel.close()

    return app


class WorkerOutputs:
    """What the engine owner published, told to the worker's metrics and Redis read model;
    and a gap the read model finds, filled from the output topics while the engine runs."""

    def __init__(self, metrics: Metrics, readmodel: ReadModel | None, settings: Settings) -> None:
        self.metrics, self.readmodel, self.settings = metrics, readmodel, settings
        self.refilling: asyncio.Task[bool] | None = None
        if readmodel is not None:
            readmodel.on_missing = self._refill

    def _refill(self) -> None:
        if self.readmodel is None or (self.refilling is not None and not self.refilling.done()):
            return
        settings = self.settings
        self.refilling = asyncio.ensure_future(
            refill(self.readmodel, settings.bootstrap, settings.topic_prefix)
        )

    def stood_by(self) -> None:
        """Another owner takes over: its own check finds the gap, if one is left."""
        if self.refilling is not None:
            self.refilling.cancel()

    def committed(
        self, verdicts: list[Verdict], evaluations: list[Evaluation], log_offset: int
    ) -> None:
        """Count the verdicts; update Redis beside the engine (coalescing while a write is in
        flight)."""
        self.metrics.verdicts(verdicts)
        if self.readmodel is not None:
            self.readmodel.submit(verdicts, evaluations, log_offset)

    def replayed(self, verdicts: list[Verdict], evaluations: list[Evaluation]) -> None:
        """Counted when first committed; written to Redis again (a killed owner's may not be)."""
        if self.readmodel is not None:
            self.readmodel.submit(verdicts, evaluations)

    def recovered(self, replayed_from: int | None, log_offset: int) -> None:
        """The read model checks whether the replay covered what Redis lacked."""
        if self.readmodel is not None:
            self.readmodel.recovered(replayed_from, log_offset)

    def written_through(self, log_offset: int) -> bool:
        """Without Redis, nothing waits to be written."""
        return self.readmodel is None or self.readmodel.written_through(log_offset)


def snapshot_held_for(runner: EngineRunner | None) -> float | None:
    """How long the runner's finished snapshot has waited for the read model, if it does."""
    since = runner.snapshot_held_since if runner else None
    return None if since is None else round(time.monotonic() - since, 1)


def make_runner(settings: Settings, published: Published, stop_at_end: bool) -> Any:
    """The stage of this worker's role (``SELLERWATCH_ROLE``)."""
    if settings.role == "coordinator":
        return CoordinatorRunner(settings, published)
    if settings.role == "partitions":
        return PartitionRunner(settings)
    return DirectRunner(settings, published, stop_at_end=stop_at_end)


def partition_stats(settings: Settings, runner: PartitionRunner, restarts: int) -> dict[str, Any]:
    """``/stats/`` of a partition worker: the state partitions it holds and their orders."""
    return {
        "role": settings.role,
        "engine_active": False,
        "partitions": [f"{runner.log_topic}-{index}" for index in runner.partitions],
        "state_partitions": runner.partitions,
        "open_orders": runner.open_orders,
        "records_taken": runner.taken,
        "messages_applied": runner.messages,
        "answers_committed": runner.answers,
        "snapshots_committed": runner.snapshots_committed,
        "restored_from_snapshot": runner.restored_from,
        "restarts": restarts,
    }


def reading(runner: EngineRunner | None) -> list[str]:
    """``topic-partition`` of every input partition this worker reads now, sorted: all of
    them on the engine's owner, none on a worker standing by."""
    if isinstance(runner, DirectRunner) and runner.active:
        assigned = set(runner.sources)
    else:
        assigned = set()
    return sorted(f"{tp.topic}-{tp.partition}" for tp in assigned)

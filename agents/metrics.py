"""The worker's Prometheus metrics (``/metrics``), in a registry of its own.

Two kinds of figures. Events the stage announces through :data:`agents.stage_health.PROGRESS`
(commits, snapshots, restarts) and the verdicts each commit published are counted as they
happen, by :meth:`Metrics.listen` and :meth:`Metrics.verdicts`. Everything the engine already
keeps (its accounting, watermark, open orders, the consumer lag) is read when Prometheus
scrapes, by a collector: nothing is copied on the record path.

A registry of its own, not ``prometheus_client.REGISTRY``: tests build many apps in one process,
and the process-wide default would mix their figures (and refuse the second registration).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sellerwatch.agents.stage_health import StageProgress

#: ``text/plain; version=0.0.4``: what Prometheus expects from ``generate_latest``.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: A transaction commit is ~5-50 ms on a healthy broker; seconds means trouble.
COMMIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)
SNAPSHOT_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

#: Returns the engine stage (``EngineRunner``) when there is one.
RunnerSource = Callable[[], Any]


class EngineCollector(Collector):
    """Reads the engine stage's figures at scrape time."""

    def __init__(
        self,
        runner: RunnerSource,
        progress: StageProgress,
        restarts: Callable[[], int],
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """Figures of ``runner()``, ``progress`` and the supervisor's ``restarts()``."""
        self.runner, self.progress, self.restarts = runner, progress, restarts
        self.wall_clock = wall_clock

    def collect(self) -> Iterable[Metric]:
        """One family per figure; the engine's are absent while this worker stands by."""
        runner = self.runner()
        progress = self.progress
        now = time.monotonic()
        active = bool(runner is not None and runner.active)
        yield _gauge("sellerwatch_engine_active", "1 while this worker owns the engine", active)
        yield _gauge(
            "sellerwatch_caught_up",
            "1 once the engine owner has read up to the end offsets seen at take-over",
            active and progress.caught_up,
        )
        yield _gauge(
            "sellerwatch_seconds_since_progress",
            "seconds since the stage last committed, or found nothing waiting",
            now - progress.last_progress,
        )
        yield _gauge(
            "sellerwatch_input_waiting",
            "1 while records wait on the inputs",
            progress.input_waiting,
        )
        restarts = CounterMetricFamily(
            "sellerwatch_stage_restarts", "stage rebuilds from committed state"
        )
        restarts.add_metric([], self.restarts())
        yield restarts
        lag = GaugeMetricFamily(
            "sellerwatch_consumer_lag_records",
            "records between the engine's position and the last stable offset, per partition",
            labels=["topic", "partition"],
        )
        for key, value in sorted(progress.lag.items()):
            topic, _, partition = key.rpartition(":")
            lag.add_metric([topic, partition], value)
        yield lag
        if progress.last_snapshot is not None:
            yield _gauge(
                "sellerwatch_snapshot_age_seconds",
                "seconds since the last committed engine snapshot",
                now - progress.last_snapshot,
            )
        held = getattr(runner, "held", None)
        if isinstance(held, dict):  # a partition worker
            yield _gauge(
                "sellerwatch_state_partitions_held",
                "state partitions this partition worker holds",
                len(held),
            )
            yield _gauge(
                "sellerwatch_partition_open_orders",
                "orders held by this partition worker's state partitions",
                runner.open_orders,
            )
            taken = CounterMetricFamily(
                "sellerwatch_partition_records_taken",
                "input records a state partition held here was given to apply, by type",
                labels=["partition", "type"],
            )
            for index, counts in sorted(runner.taken.items()):
                for kind, value in counts.items():
                    taken.add_metric([str(index), kind], value)
            yield taken
        engine = runner.engine if runner is not None else None
        if engine is None:
            return
        yield _gauge(
            "sellerwatch_inputs_held_back",
            "input partitions ahead of the watermark paused while too many records wait for it",
            getattr(runner, "held_back", 0),
        )
        yield _gauge(
            "sellerwatch_waiting_events",
            "input records read and accepted, waiting in memory for the watermark to pass them",
            engine.waiting,
        )
        yield _gauge(
            "sellerwatch_waiting_for_partitions",
            "1 while an evaluation instant waits for the partition workers' answers",
            engine.asking is not None,
        )
        yield from self._engine(engine)

    def _engine(self, engine: Any) -> Iterator[Metric]:
        accounting = engine.accounting
        records = CounterMetricFamily(
            "sellerwatch_records",
            "input records by SPEC §5 bucket (in = applied + duplicate + late + rejected)",
            labels=["bucket"],
        )
        for bucket, value in (
            ("in", accounting.records_in),
            ("applied", accounting.applied),
            ("duplicate", accounting.duplicate),
            ("late", accounting.late),
            ("rejected", accounting.rejected),
        ):
            records.add_metric([bucket], value)
        yield records
        rejected = CounterMetricFamily(
            "sellerwatch_rejected_records", "rejected input records by reason", labels=["reason"]
        )
        for reason, value in sorted(accounting.rejected_by_reason.items()):
            rejected.add_metric([reason], value)
        yield rejected
        watermark = engine.watermark
        if watermark is not None:
            yield _gauge(
                "sellerwatch_watermark_seconds",
                "the engine's watermark W (epoch s)",
                watermark / 1000,
            )
            yield _gauge(
                "sellerwatch_event_time_lag_seconds",
                "wall clock minus the watermark: how far event time trails real time",
                self.wall_clock() - watermark / 1000,
            )
        yield _gauge(
            "sellerwatch_open_orders",
            "orders the engine holds in memory",
            engine.open_orders,
        )
        orphans = CounterMetricFamily(
            "sellerwatch_orphans_dropped", "joins given up after orphan_retention"
        )
        orphans.add_metric([], engine.orphans_dropped)
        yield orphans


class ReadModelCollector(Collector):
    """The Redis read model's backlog, read at scrape time (its ``stats()``)."""

    def __init__(self, stats: Callable[[], dict[str, Any]]) -> None:
        """Figures of ``stats()``: ``keys_waiting``, ``failed_writes`` and ``missing``."""
        self.stats = stats

    def collect(self) -> Iterable[Metric]:
        """Keys not in Redis yet, and the failed writes (each kept and tried again)."""
        stats = self.stats()
        yield _gauge(
            "sellerwatch_readmodel_keys_waiting",
            "read-model keys staged or being written: what Redis does not show yet",
            stats["keys_waiting"],
        )
        failed = CounterMetricFamily(
            "sellerwatch_readmodel_failed_writes",
            "read-model writes that failed (each kept and tried again)",
        )
        failed.add_metric([], stats["failed_writes"])
        yield failed
        yield _gauge(
            "sellerwatch_readmodel_missing",
            "1 while the read model may lack committed outputs (a stopped worker's unwritten "
            "ones, or a Redis that lost its data), until they are read back from Kafka",
            0 if stats.get("missing") is None else 1,
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


class Metrics:
    """The registry of one worker app, and the hooks that feed it."""

    def __init__(
        self, runner: RunnerSource, progress: StageProgress, restarts: Callable[[], int]
    ) -> None:
        """Metrics for the stage ``runner()``, reading ``progress`` and counting ``restarts()``."""
        self.registry = CollectorRegistry(auto_describe=True)
        self.progress = progress
        self._restarts = 0
        self._supervisor_restarts = restarts
        self.commit_latency = Histogram(
            "sellerwatch_transaction_commit_seconds",
            "commit_transaction latency of the engine's transactions",
            buckets=COMMIT_BUCKETS,
            registry=self.registry,
        )
        self.snapshot_duration = Histogram(
            "sellerwatch_snapshot_duration_seconds",
            "from forking the snapshot child to committing its records",
            buckets=SNAPSHOT_BUCKETS,
            registry=self.registry,
        )
        self.snapshots = Counter(
            "sellerwatch_snapshots", "engine snapshots committed", registry=self.registry
        )
        self.snapshot_size = Gauge(
            "sellerwatch_snapshot_bytes",
            "size of the last committed snapshot",
            registry=self.registry,
        )
        self.verdict_count = Counter(
            "sellerwatch_verdicts",
            "verdicts committed by this worker, per kind",
            ["kind"],
            registry=self.registry,
        )
        self.registry.register(EngineCollector(runner, progress, self.restarts))

    def watch_read_model(self, stats: Callable[[], dict[str, Any]]) -> None:
        """Export the Redis read model's backlog (a worker with one)."""
        self.registry.register(ReadModelCollector(stats))

    def restarts(self) -> int:
        """Stage rebuilds announced by the stage, plus the supervisor's restarts."""
        return self._restarts + self._supervisor_restarts()

    def listen(self, event: str, seconds: float, size_bytes: int) -> None:
        """A :data:`agents.stage_health.Listener`: count commits, snapshots, restarts."""
        if event == "commit":
            self.commit_latency.observe(seconds)
        elif event == "snapshot":
            self.snapshot_duration.observe(seconds)
            self.snapshots.inc()
            self.snapshot_size.set(size_bytes)
        elif event == "restart":
            self._restarts += 1

    def verdicts(self, verdicts: Iterable[Any]) -> None:
        """Count a committed batch's verdicts by kind."""
        for verdict in verdicts:
            self.verdict_count.labels(kind=str(verdict.kind)).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of everything."""
        return generate_latest(self.registry)

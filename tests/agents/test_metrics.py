"""``/metrics``: the Prometheus text a scrape of a worker gets."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from sellerwatch.agents.metrics import Metrics
from sellerwatch.agents.stage_health import StageProgress
from sellerwatch.streams.engine import Engine
from tests.builders import as_json, payment


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _engine() -> Engine:
    engine = Engine()
    engine.assign([0])
    first = as_json(payment("O1", "2021-07-05 10:00"))
    engine.accept_raw(first)
    engine.accept_raw(first)  # a duplicate
    engine.accept_raw(as_json(payment("O2", "2021-07-05 11:00")))
    engine.accept_raw(b"{not json")
    return engine


def _metrics(runner: Any, progress: StageProgress, restarts: int = 0) -> Metrics:
    return Metrics(lambda: runner, progress, lambda: restarts)


def test_records_are_counted_per_bucket_and_reject_reason() -> None:
    runner = SimpleNamespace(active=True, engine=_engine())
    samples = _samples(_metrics(runner, StageProgress()))
    assert samples[("sellerwatch_records_total", (("bucket", "in"),))] == 4
    assert samples[("sellerwatch_records_total", (("bucket", "applied"),))] == 2
    assert samples[("sellerwatch_records_total", (("bucket", "duplicate"),))] == 1
    assert samples[("sellerwatch_records_total", (("bucket", "rejected"),))] == 1
    assert samples[("sellerwatch_rejected_records_total", (("reason", "not_json"),))] == 1
    assert samples[("sellerwatch_open_orders", ())] == len(runner.engine.state.book.orders) >= 1
    assert samples[("sellerwatch_engine_active", ())] == 1


def test_watermark_and_event_time_lag_are_in_seconds() -> None:
    engine = _engine()
    engine.finish()
    runner = SimpleNamespace(active=True, engine=engine)
    samples = _samples(_metrics(runner, StageProgress()))
    watermark = samples[("sellerwatch_watermark_seconds", ())]
    assert watermark == engine.watermark / 1000
    assert samples[("sellerwatch_event_time_lag_seconds", ())] > 5 * 365 * 86_400  # 2021 data


def test_consumer_lag_is_one_series_per_input_partition() -> None:
    progress = StageProgress(lag={"p.payments:0": 12, "p.refunds:3": 0}, caught_up=True)
    runner = SimpleNamespace(active=True, engine=None)
    samples = _samples(_metrics(runner, progress))
    lag = "sellerwatch_consumer_lag_records"
    assert samples[(lag, (("partition", "0"), ("topic", "p.payments")))] == 12
    assert samples[(lag, (("partition", "3"), ("topic", "p.refunds")))] == 0
    assert samples[("sellerwatch_caught_up", ())] == 1


def test_commits_snapshots_and_restarts_arrive_through_the_stage_listener() -> None:
    progress = StageProgress()
    metrics = _metrics(SimpleNamespace(active=True, engine=None), progress, restarts=1)
    progress.listeners.append(metrics.listen)
    progress.emit("commit", 0.02)
    progress.emit("commit", 3.0)
    progress.emit("snapshot", 4.0, 123_456)
    progress.emit("restart")
    samples = _samples(metrics)
    histogram = "sellerwatch_transaction_commit_seconds"
    assert samples[(f"{histogram}_count", ())] == 2
    assert samples[(f"{histogram}_bucket", (("le", "0.025"),))] == 1
    assert samples[(f"{histogram}_bucket", (("le", "5.0"),))] == 2
    assert samples[("sellerwatch_snapshot_duration_seconds_count", ())] == 1
    assert samples[("sellerwatch_snapshot_bytes", ())] == 123_456
    assert samples[("sellerwatch_snapshots_total", ())] == 1
    assert 0 <= samples[("sellerwatch_snapshot_age_seconds", ())] < 60
    assert samples[("sellerwatch_stage_restarts_total", ())] == 2  # the stage's + supervisor's


def test_verdicts_are_counted_per_kind() -> None:
    metrics = _metrics(None, StageProgress())
    metrics.verdicts([SimpleNamespace(kind="tag"), SimpleNamespace(kind="tag")])
    metrics.verdicts([SimpleNamespace(kind="fine")])
    samples = _samples(metrics)
    assert samples[("sellerwatch_verdicts_total", (("kind", "tag"),))] == 2
    assert samples[("sellerwatch_verdicts_total", (("kind", "fine"),))] == 1


def test_a_stand_by_exports_no_engine_figures() -> None:
    samples = _samples(_metrics(SimpleNamespace(active=False, engine=None), StageProgress()))
    assert samples[("sellerwatch_engine_active", ())] == 0
    assert not any(name == "sellerwatch_records_total" for name, _ in samples)


def test_two_apps_in_one_process_keep_separate_registries() -> None:
    first, second = _metrics(None, StageProgress()), _metrics(None, StageProgress())
    first.verdicts([SimpleNamespace(kind="tag")])
    assert ("sellerwatch_verdicts_total", (("kind", "tag"),)) not in _samples(second)
    assert REGISTRY.get_sample_value("sellerwatch_verdicts_total", {"kind": "tag"}) is None


def test_a_partition_worker_exports_what_it_holds_and_a_coordinator_what_it_waits_for() -> None:
    from sellerwatch.streams.remote import RemoteCoordinator

    taken = {0: {"payment": 5, "pickup_scan": 2}, 2: {"payment": 3}}
    worker = SimpleNamespace(
        active=False, engine=None, held={0: None, 2: None}, open_orders=7, taken=taken
    )
    got = _samples(_metrics(worker, StageProgress()))
    assert got[("sellerwatch_state_partitions_held", ())] == 2
    assert got[("sellerwatch_partition_open_orders", ())] == 7
    name = "sellerwatch_partition_records_taken_total"
    assert got[(name, (("partition", "0"), ("type", "pickup_scan")))] == 2
    assert got[(name, (("partition", "2"), ("type", "payment")))] == 3
    coordinator = RemoteCoordinator(partitions=2)
    coordinator.recall(["p-O1", "p-O2"])  # a batch's ids first: nothing remembered
    coordinator.answer([{}, {}])
    coordinator.accept(payment("O1", "2021-07-05 10:00"))
    coordinator.accept(payment("O2", "2021-07-06 10:00"))  # passes E of 07-06: it asks and waits
    owner = SimpleNamespace(active=True, engine=coordinator)
    got = _samples(_metrics(owner, StageProgress()))
    assert got[("sellerwatch_waiting_for_partitions", ())] == 1

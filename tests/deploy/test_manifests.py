"""Compose and Kubernetes manifests agree with the local scripts and the worker's settings."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from sellerwatch.agents.metrics import Metrics
from sellerwatch.agents.settings import Settings
from sellerwatch.agents.stage_health import StageProgress
from sellerwatch.streams.engine import Engine
from tests.builders import as_json, payment

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KNOWN_ENV = {f"SELLERWATCH_{f.name.upper()}" for f in dataclasses.fields(Settings)} | {
    "SELLERWATCH_REDIS_URL",
    "SELLERWATCH_POLICY",
    # agents/kafka_security.py, agents/settings.py (secrets), agents/deadlines.py
    "SELLERWATCH_KAFKA_SECURITY_PROTOCOL",
    "SELLERWATCH_KAFKA_SASL_MECHANISM",
    "SELLERWATCH_KAFKA_USERNAME",
    "SELLERWATCH_KAFKA_PASSWORD",
    "SELLERWATCH_KAFKA_PASSWORD_FILE",
    "SELLERWATCH_KAFKA_CA_FILE",
    "SELLERWATCH_KAFKA_CERT_FILE",
    "SELLERWATCH_KAFKA_KEY_FILE",
    "SELLERWATCH_KAFKA_KEY_PASSWORD",
    "SELLERWATCH_KAFKA_KEY_PASSWORD_FILE",
    "SELLERWATCH_REDIS_PASSWORD",
    "SELLERWATCH_REDIS_PASSWORD_FILE",
    "SELLERWATCH_WEB_TOKEN",
    "SELLERWATCH_WEB_TOKEN_FILE",
    "SELLERWATCH_KAFKA_STEP_TIMEOUT_S",
    "SELLERWATCH_STAGE_GIVE_UP_AFTER",
}


def _local_properties() -> dict[str, str]:
    props = {}
    for line in (DEPLOY / "local" / "server.properties").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            props[key.strip()] = value.strip()
    return props


def test_compose_broker_settings_match_the_local_broker() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:3.9.")
    env = kafka["environment"]
    local = _local_properties()
    for key in (
        "process.roles",
        "num.partitions",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "min.insync.replicas",
        "group.initial.rebalance.delay.ms",
    ):
        assert env["KAFKA_" + key.replace(".", "_").upper()] == local[key], key


def test_worker_environments_use_only_settings_the_worker_reads() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    compose_env = set(compose["services"]["worker"]["environment"])
    docs = list(yaml.safe_load_all((DEPLOY / "k8s" / "worker.yaml").read_text()))
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    stateful = next(d for d in docs if d["kind"] == "StatefulSet")
    container_env = {
        e["name"] for e in stateful["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert compose_env <= KNOWN_ENV
    assert set(config) | container_env <= KNOWN_ENV
    assert "SELLERWATCH_INSTANCE" in container_env  # stable transactional ids per pod
    shared = set(config) & compose_env
    for key in shared - {"SELLERWATCH_BOOTSTRAP", "SELLERWATCH_REDIS_URL", "SELLERWATCH_INSTANCE"}:
        assert str(config[key]) == str(compose["services"]["worker"]["environment"][key]), key


def _k8s() -> list[dict[str, Any]]:
    docs = list(yaml.safe_load_all((DEPLOY / "k8s" / "worker.yaml").read_text()))
    docs += list(yaml.safe_load_all((DEPLOY / "k8s" / "servicemonitor.yaml").read_text()))
    docs += list(yaml.safe_load_all((DEPLOY / "k8s" / "scale-out.yaml").read_text()))
    return [d for d in docs if d]


def _kind(kind: str) -> dict[str, Any]:
    return next(d for d in _k8s() if d["kind"] == kind)


def test_kubernetes_probes_use_healthz_and_ready() -> None:
    container = _kind("StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert _kind("ConfigMap")["data"]["SELLERWATCH_WEB_BIND"] == "0.0.0.0"  # kubelet + scrapes


def test_secrets_are_files_from_the_secret_never_configmap_values() -> None:
    config = _kind("ConfigMap")["data"]
    secret = _kind("Secret")["stringData"]
    stateful = _kind("StatefulSet")["spec"]["template"]["spec"]
    mount = stateful["containers"][0]["volumeMounts"][0]["mountPath"]
    assert stateful["volumes"][0]["secret"]["secretName"] == _kind("Secret")["metadata"]["name"]
    for key, value in config.items():
        assert not re.search(r"(PASSWORD|TOKEN)$", key), f"{key} is a secret in a ConfigMap"
        if key.endswith("_FILE") or key == "SELLERWATCH_KAFKA_CA_FILE":
            directory, _, name = str(value).rpartition("/")
            assert directory == mount, key
            assert name in secret, key


def test_the_service_monitor_scrapes_the_services_metrics_with_the_token() -> None:
    monitor, service = _kind("ServiceMonitor"), _kind("Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    endpoint = monitor["spec"]["endpoints"][0]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["authorization"]["credentials"]["key"] in _kind("Secret")["stringData"]


def test_compose_publishes_no_broker_or_redis_port() -> None:
    services = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]
    assert "ports" not in services["kafka"]
    assert "ports" not in services["redis"]
    assert all(p.startswith("127.0.0.1:") for p in services["worker"]["ports"])


def _exported_metrics() -> set[str]:
    """Every metric family name a worker owning an engine exports."""
    engine = Engine()
    engine.assign([0])
    engine.accept_raw(as_json(payment("O1", "2021-07-05 10:00")))
    engine.finish()
    progress = StageProgress(lag={"payments:0": 0})
    metrics = Metrics(lambda: SimpleNamespace(active=True, engine=engine), progress, lambda: 0)
    progress.listeners.append(metrics.listen)
    progress.emit("snapshot", 1.0, 10)
    metrics.verdicts([SimpleNamespace(kind="tag")])
    metrics.watch_read_model(lambda: {"keys_waiting": 0, "failed_writes": 0})
    text = metrics.render().decode()
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    return {name.removesuffix("_total") for name in names}


def _names_in(expression: str) -> set[str]:
    return set(re.findall(r"\b(sellerwatch_[a-z_]+?)(?:_bucket|_sum|_count|_total)?\b", expression))


def test_dashboard_and_alerts_use_only_metrics_the_worker_exports() -> None:
    exported = _exported_metrics()
    dashboard = json.loads((DEPLOY / "grafana" / "sellerwatch.json").read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())
    expressions += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    used = set().union(*(_names_in(e) for e in expressions))
    assert used, "no sellerwatch metric in the dashboard"
    assert used <= exported, used - exported


def test_the_scale_out_manifest_runs_a_coordinator_and_partition_workers_alike() -> None:
    sets = {d["metadata"]["name"]: d for d in _k8s() if d["kind"] == "StatefulSet"}
    roles, counts = {}, set()
    for name in ("sellerwatch-coordinator", "sellerwatch-partitions"):
        container = sets[name]["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        roles[name] = Settings(role=env["SELLERWATCH_ROLE"]).role  # a role the worker accepts
        counts.add(env["SELLERWATCH_PARTITIONS"])
        assert set(env) <= KNOWN_ENV
    assert roles == {
        "sellerwatch-coordinator": "coordinator",
        "sellerwatch-partitions": "partitions",
    }
    assert len(counts) == 1, "every worker of a deployment has the same SELLERWATCH_PARTITIONS"


def test_every_worker_stops_by_itself_before_its_supervisor_kills_it() -> None:
    """Kubernetes and Compose send SIGKILL a grace period after SIGTERM; the worker's own stop
    deadline (an exit that says why in the log) must come first."""
    stop_s = float(_kind("ConfigMap")["data"]["SELLERWATCH_STOP_TIMEOUT_S"])
    sets = [d for d in _k8s() if d["kind"] == "StatefulSet"]
    assert len(sets) == 3
    for stateful in sets:
        assert stateful["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > stop_s
    worker = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]["worker"]
    assert float(worker["environment"]["SELLERWATCH_STOP_TIMEOUT_S"]) == stop_s
    assert float(worker["stop_grace_period"].removesuffix("s")) > stop_s

"""Compose and Kubernetes manifests agree with the local scripts and the worker's settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from agents.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KNOWN_ENV = {f"SELLERWATCH_{f.name.upper()}" for f in dataclasses.fields(Settings)} | {
    "SELLERWATCH_REDIS_URL",
    "SELLERWATCH_POLICY",
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

"""Kafka over SASL_SSL on a real broker, and a worker's web views behind a token.

The SASL tests start their own broker (``SELLERWATCH_LOCAL_SASL=1 deploy/local/up.sh`` with a
cache dir and ports of their own, sharing the downloaded jars), so the shared broker on 9092 is
never touched; it is stopped at the end of the module.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import ROOT, Worker, run_cli, wait_for
from tests.integration.ports import free_port, free_ports

pytestmark = pytest.mark.integration

SAMPLE = ROOT / "examples" / "sample.jsonl.gz"
EXPECTED = ROOT / "examples" / "sample-verdicts.jsonl"
DEFAULT_CACHE = Path(os.environ.get("SELLERWATCH_CACHE", Path.home() / ".cache" / "sellerwatch"))


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A broker of our own with a SASL_SSL listener; the client settings that reach it."""
    libs = DEFAULT_CACHE / "kafka-3.9.1" / "libs"
    if not (libs / "kafka_2.13-3.9.1.jar").is_file():
        pytest.skip(f"no Kafka jars in {libs} (deploy/local/up.sh fetches them)")
    cache = tmp_path_factory.mktemp("sasl-broker")
    (cache / "kafka-3.9.1").mkdir()
    (cache / "kafka-3.9.1" / "libs").symlink_to(libs)
    # Up to three tries, each on fresh ports: a port can still be taken between the check and
    # the broker's bind (tests/integration/ports.py), and then Kafka exits during startup.
    for attempt in range(3):
        base = free_ports(3, consecutive=True)[0]
        redis_port = free_port()
        while base <= redis_port <= base + 2:
            redis_port = free_port()
        env = {
            **os.environ,
            "SELLERWATCH_LOCAL_SASL": "1",
            "SELLERWATCH_CACHE": str(cache),
            "KAFKA_PORT": str(base),
            "KAFKA_CONTROLLER_PORT": str(base + 1),
            "KAFKA_SASL_PORT": str(base + 2),
            "REDIS_PORT": str(redis_port),
        }
        up = subprocess.run(
            ["bash", str(ROOT / "deploy" / "local" / "up.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if up.returncode == 0 or "Address already in use" not in up.stderr or attempt == 2:
            break
        subprocess.run(
            ["bash", str(ROOT / "deploy" / "local" / "down.sh"), "--wipe"],
            env=env,
            capture_output=True,
            timeout=120,
        )
    try:
        assert up.returncode == 0, up.stderr
        tls = cache / "kafka-3.9.1" / "tls"
        yield {
            "SELLERWATCH_BOOTSTRAP": f"localhost:{base + 2}",
            "SELLERWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "SELLERWATCH_KAFKA_USERNAME": "sellerwatch",
            "SELLERWATCH_KAFKA_PASSWORD_FILE": str(tls / "sasl-password"),
            "SELLERWATCH_KAFKA_CA_FILE": str(tls / "ca.pem"),
            "SELLERWATCH_REDIS_URL": "",
        }
    finally:
        subprocess.run(
            ["bash", str(ROOT / "deploy" / "local" / "down.sh"), "--wipe"],
            env=env,
            capture_output=True,
            timeout=120,
        )


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sellerwatch", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, **env},
    )


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "PLAIN"])
def test_the_right_credentials_work_end_to_end(
    sasl_broker: dict[str, str], tmp_path: Path, mechanism: str
) -> None:
    env = {**sasl_broker, "SELLERWATCH_KAFKA_SASL_MECHANISM": mechanism}
    prefix = f"sasl{mechanism.lower().replace('-', '')}."
    produced = run_cli("produce", "--topic-prefix", prefix, str(SAMPLE), **env)
    assert f"{prefix}payments:" in produced.stderr
    out = tmp_path / "verdicts.jsonl"
    run_cli("backtest", "--from-topics", "--topic-prefix", prefix, "--out", str(out), **env)
    assert sorted(out.read_text().splitlines()) == sorted(EXPECTED.read_text().splitlines())


def test_a_wrong_password_is_one_line_and_exit_2(sasl_broker: dict[str, str]) -> None:
    env = {
        **sasl_broker,
        "SELLERWATCH_KAFKA_PASSWORD_FILE": "",
        "SELLERWATCH_KAFKA_PASSWORD": "hunter2-wrong",
    }
    for args in (["produce", "--topic-prefix", "bad.", str(SAMPLE)], ["topics"]):
        result = _cli(*args, **env)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("sellerwatch: error: cannot "), lines[0]
        assert "SASL_SSL SCRAM-SHA-256 as 'sellerwatch'" in lines[0]
        assert "SELLERWATCH_KAFKA_" in lines[0]
        assert "hunter2" not in result.stderr


def test_an_untrusted_broker_certificate_is_one_line_and_exit_2(
    sasl_broker: dict[str, str], tmp_path: Path
) -> None:
    env = {**sasl_broker, "SELLERWATCH_KAFKA_CA_FILE": ""}  # the system CAs do not know ours
    result = _cli("backtest", "--from-topics", "--out", str(tmp_path / "v.jsonl"), **env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sellerwatch: error: cannot "), lines[0]
    assert "SELLERWATCH_KAFKA_" in lines[0]


def test_plaintext_against_the_sasl_listener_is_refused(sasl_broker: dict[str, str]) -> None:
    env = {**sasl_broker, "SELLERWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}
    result = _cli("topics", **env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("sellerwatch: error: cannot ")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def _get(port: int, path: str, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")  # noqa: S310
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        body, status = error.read(), error.code
    except OSError:
        return 0, None
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode()


def test_a_worker_over_sasl_ssl_serves_its_probes_behind_a_token(
    sasl_broker: dict[str, str], tmp_path: Path
) -> None:
    prefix = "saslworker."
    run_cli("produce", "--topic-prefix", prefix, str(SAMPLE), **sasl_broker)
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    port = free_port()
    worker = Worker(
        prefix,
        "sasl-a",
        port,
        tmp_path / "worker.log",
        **sasl_broker,
        SELLERWATCH_KAFKA_SASL_MECHANISM="SCRAM-SHA-256",
        SELLERWATCH_WEB_TOKEN_FILE=str(token_file),
    ).start()
    try:
        wait_for(lambda: _get(port, "/healthz")[0] == 200, 60, "/healthz")
        assert _get(port, "/ready")[0] == 401
        assert _get(port, "/metrics")[0] == 401
        assert _get(port, "/stats/")[0] == 401

        def owner_ready() -> bool:
            status, body = _get(port, "/ready", "s3cret")
            return status == 200 and body.get("role") == "owner"

        wait_for(owner_ready, 120, "the worker to own the engine and catch up")
        status, text = _get(port, "/metrics", "s3cret")
        assert status == 200
        assert 'sellerwatch_records_total{bucket="in"} 19210.0' in text
        assert "sellerwatch_engine_active 1.0" in text
        status, body = _get(port, "/healthz")
        assert (status, body["status"]) == (200, "alive")
        listening = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout
        assert f"127.0.0.1:{port} " in listening
        assert f"0.0.0.0:{port} " not in listening
    finally:
        worker.stop()
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]

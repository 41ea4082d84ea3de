"""Kafka client security options and topic retention, from ``SELLERWATCH_*`` variables."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from sellerwatch.agents.backtest import retention_warning
from sellerwatch.agents.kafka_security import client_options, faust_credentials
from sellerwatch.agents.settings import DAY_MS, Settings, SettingsError, longest_window_ms
from sellerwatch.agents.topics import INPUT_TOPICS, topic_specs
from sellerwatch.streams.policy import Policy, QualityRefund


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SELLERWATCH_"):
            monkeypatch.delenv(name)


def test_plaintext_needs_no_options() -> None:
    assert client_options() == {}
    assert faust_credentials() is None


def test_scram_over_tls_with_the_password_from_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("SELLERWATCH_KAFKA_SECURITY_PROTOCOL", "sasl_ssl")
    monkeypatch.setenv("SELLERWATCH_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("SELLERWATCH_KAFKA_USERNAME", "alice")
    monkeypatch.setenv("SELLERWATCH_KAFKA_PASSWORD_FILE", str(secret))
    options = client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("alice", "s3cret")
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].check_hostname
    credentials = faust_credentials()
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.protocol.value == "SASL_SSL"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECURITY_PROTOCOL": "KERBEROS"}, "SELLERWATCH_KAFKA_SECURITY_PROTOCOL is one of"),
        ({"SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "SASL needs SELLERWATCH_KAFKA_USERNAME"),
        (
            {"SECURITY_PROTOCOL": "SASL_SSL", "SASL_MECHANISM": "MD5", "USERNAME": "a"},
            "SELLERWATCH_KAFKA_SASL_MECHANISM is one of",
        ),
        ({"SECURITY_PROTOCOL": "SSL", "CA_FILE": "/nonexistent.pem"}, "no such file"),
        ({"SECURITY_PROTOCOL": "SSL", "CERT_FILE": "/etc/hostname"}, "CERT_FILE and"),
        (
            {"SECURITY_PROTOCOL": "SASL_SSL", "PASSWORD": "x", "PASSWORD_FILE": "/etc/hostname"},
            "not both",
        ),
    ],
)
def test_unusable_settings_are_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(f"SELLERWATCH_KAFKA_{name}", value)
    with pytest.raises(SettingsError, match=message):
        client_options()


def test_input_retention_covers_the_longest_window_by_default() -> None:
    settings = Settings()
    assert settings.input_retention_ms() == 36 * DAY_MS  # 35-day order memory + lateness
    specs = {s.name: s for s in topic_specs(4, settings.input_retention_ms())}
    for topic in INPUT_TOPICS:
        assert int(specs[topic].config["retention.ms"]) >= 35 * DAY_MS


def test_a_longer_window_in_the_policy_lengthens_the_retention() -> None:
    policy = Policy(quality_refund=QualityRefund(window_days=90))
    assert longest_window_ms(policy) == 91 * DAY_MS


def test_retention_and_replication_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELLERWATCH_INPUT_RETENTION", "60d")
    monkeypatch.setenv("SELLERWATCH_REPLICATION_FACTOR", "3")
    settings = Settings()
    assert settings.input_retention_ms() == 60 * DAY_MS
    assert settings.replication_factor == 3
    monkeypatch.setenv("SELLERWATCH_INPUT_RETENTION", "a month")
    with pytest.raises(SettingsError, match="SELLERWATCH_INPUT_RETENTION"):
        Settings()
    monkeypatch.setenv("SELLERWATCH_INPUT_RETENTION", "")
    monkeypatch.setenv("SELLERWATCH_REPLICATION_FACTOR", "0")
    with pytest.raises(SettingsError, match="SELLERWATCH_REPLICATION_FACTOR"):
        Settings()


def test_the_web_server_binds_loopback_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().web_bind == "127.0.0.1"
    monkeypatch.setenv("SELLERWATCH_WEB_BIND", "0.0.0.0")
    assert Settings().web_bind == "0.0.0.0"


def test_backtest_warns_only_when_retention_cut_the_longest_window() -> None:
    policy = Policy()
    start = 1_700_000_000_000
    assert retention_warning(False, start, start + DAY_MS, policy) is None  # nothing deleted
    assert retention_warning(True, start, start + 40 * DAY_MS, policy) is None  # enough left
    warning = retention_warning(True, start, start + 10 * DAY_MS, policy)
    assert warning is not None
    assert "hold only 10.0 days" in warning
    assert "read 35 days" in warning
    assert "SELLERWATCH_INPUT_RETENTION" in warning


def test_faust_keeps_its_files_under_the_data_dir_it_creates(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Not in the working directory (a checkout or a read-only image), and a data dir that
    does not exist yet is made, parents included (Faust itself makes only the last level)."""
    from sellerwatch.agents.app import create_app

    where = tmp_path / "not" / "yet"
    monkeypatch.setenv("SELLERWATCH_DATA_DIR", str(where))
    monkeypatch.setenv("SELLERWATCH_TOPIC_PREFIX", "dd.")
    app = create_app(Settings())
    assert where.is_dir()
    assert app.conf.datadir.parent == where
    assert app.conf.datadir.name == "dd.sellerwatch-worker-data"


def test_a_killed_workers_restart_waits_out_a_short_faust_session_not_a_minute(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Faust starts the stages once its group settles, which waits for a dead member's whole
    session: 60 s by Faust's default (docs/operations.md, "Stopping")."""
    from sellerwatch.agents.app import create_app

    monkeypatch.setenv("SELLERWATCH_DATA_DIR", str(tmp_path))
    app = create_app(Settings())
    assert app.conf.broker_session_timeout == 10.0
    assert app.conf.broker_heartbeat_interval * 3 <= app.conf.broker_session_timeout

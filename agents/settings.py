"""Worker settings, from command-line flags and ``SELLERWATCH_*`` environment variables."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

from sellerwatch.streams.policy import Policy, load_policy

INGEST_MODES = ("direct",)
#: What a worker process runs: the whole engine (its state partitions in it), the coordinator
#: of partitions held by partition workers, or some of those partitions (issue #9).
ROLES = ("engine", "coordinator", "partitions")
#: Most state partitions one engine splits into (each costs a shard's setup per evaluation).
MAX_PARTITIONS = 256


class SettingsError(ValueError):
    """A ``SELLERWATCH_*`` variable or flag the worker cannot use (a one-line CLI error)."""


def secret(variable: str) -> str | None:
    """``$VARIABLE``, or the contents of the file ``$VARIABLE_FILE`` names (one line, stripped).

    Kubernetes mounts Secrets as files, and a file keeps the value out of ``ps`` and argv.
    """
    value = os.environ.get(variable)
    path = os.environ.get(f"{variable}_FILE", "")
    if value and path:
        raise SettingsError(f"set {variable} or {variable}_FILE, not both")
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{variable}_FILE: cannot read {path}: {exc}") from None
    return value or None


#: Faust's local directory unless ``SELLERWATCH_DATA_DIR`` says otherwise.
DEFAULT_DATA_DIR = os.path.join(tempfile.gettempdir(), "sellerwatch")


def _env(name: str, default: str) -> str:
    return os.environ.get(f"SELLERWATCH_{name}", default)


def _env_number(name: str, default: str, kind: type[int] | type[float]) -> Any:
    value = _env(name, default)
    try:
        return kind(value)
    except ValueError:
        raise SettingsError(f"SELLERWATCH_{name} must be a number, not {value!r}") from None


@dataclass(frozen=True)
class Settings:
    """Where the broker and Redis are, how topics are named, and the worker's timings."""

    bootstrap: str = field(default_factory=lambda: _env("BOOTSTRAP", "localhost:9092"))
    topic_prefix: str = field(default_factory=lambda: _env("TOPIC_PREFIX", ""))
    redis_url: str | None = field(
        default_factory=lambda: _env("REDIS_URL", "redis://localhost:6379/0") or None
    )
    policy_path: str | None = field(default_factory=lambda: _env("POLICY", "") or None)
    #: Wall-clock ms after which a silent input partition stops holding the watermark back.
    idle_timeout_ms: int = field(
        default_factory=lambda: _env_number("IDLE_TIMEOUT_MS", "10000", int)
    )
    #: Records that may wait in the engine for the watermark before the input partitions
    #: ahead of it are paused (watermark alignment, agents/read_ahead.py); 0 turns it off.
    max_waiting: int = field(
        default_factory=lambda: _env_number("MAX_WAITING_EVENTS", "200000", int)
    )
    #: Seconds between engine snapshots (state + log offset, committed with the outputs).
    #: A forked child writes the snapshot, so the engine pauses only for the fork (~10 ms); a
    #: restart replays about this much of the log.
    snapshot_interval_s: float = field(
        default_factory=lambda: _env_number("SNAPSHOT_INTERVAL_S", "300", float)
    )
    #: ``direct``, the only way left: the engine owner reads the inputs itself (other workers
    #: stand by). ``sequenced`` was removed (docs/decisions.md #23).
    ingest: str = field(default_factory=lambda: _env("INGEST", "direct"))
    web_port: int = field(default_factory=lambda: _env_number("WEB_PORT", "6066", int))
    input_partitions: int = field(default_factory=lambda: _env_number("INPUT_PARTITIONS", "4", int))
    #: Stage instance id, part of the transactional ids (unique per worker process).
    instance: str = field(default_factory=lambda: _env("INSTANCE", f"{os.getpid()}"))
    #: The address the web server listens on (Faust's ``web_bind``): loopback unless told.
    web_bind: str = field(default_factory=lambda: _env("WEB_BIND", "127.0.0.1"))
    #: Seconds without progress, while input waits, after which ``/healthz`` answers 503.
    liveness_s: float = field(default_factory=lambda: _env_number("LIVENESS_S", "300", float))
    #: Seconds a stop (SIGTERM) may take before the process exits anyway: under Kubernetes'
    #: 30 s grace period, so the worker ends on its own terms (``agents/stop_deadline.py``).
    stop_timeout_s: float = field(
        default_factory=lambda: _env_number("STOP_TIMEOUT_S", "25", float)
    )
    #: Input topics' ``retention.ms``; empty: derived from the policy (:func:`input_retention_ms`).
    input_retention: str = field(default_factory=lambda: _env("INPUT_RETENTION", ""))
    #: Faust's local directory (nothing durable: the state is in Kafka); not the working
    #: directory, which a checkout or a read-only image may be.
    data_dir: str = field(default_factory=lambda: _env("DATA_DIR", DEFAULT_DATA_DIR))
    #: Replication factor of the topics the worker creates (1 on a one-broker cluster).
    replication_factor: int = field(
        default_factory=lambda: _env_number("REPLICATION_FACTOR", "1", int)
    )
    #: ``1``: publish the orders behind every verdict on ``sellerwatch.evidence`` (off by
    #: default: a verdict of thousands of orders makes a record of as many facts).
    evidence_flag: str = field(default_factory=lambda: _env("EVIDENCE", "0"))
    #: ``1``: publish early warnings of delists and fines on ``sellerwatch.warnings``.
    warnings_flag: str = field(default_factory=lambda: _env("WARNINGS", "0"))
    #: The engine's state split over this many partitions by item (``PartitionedEngine``;
    #: the verdicts are the same for every value). Read when the state is first built.
    partitions: int = field(default_factory=lambda: _env_number("PARTITIONS", "1", int))
    #: ``engine`` (one process holds every state partition), ``coordinator`` (reads the
    #: inputs, classifies, routes, asks and publishes; holds no order) or ``partitions``
    #: (holds the state partitions the group assigns it): :data:`ROLES`.
    role: str = field(default_factory=lambda: _env("ROLE", "engine"))

    @property
    def evidence(self) -> bool:
        """Whether the worker publishes evidence (``SELLERWATCH_EVIDENCE``)."""
        return self.evidence_flag == "1"

    @property
    def warnings(self) -> bool:
        """Whether the worker publishes early warnings (``SELLERWATCH_WARNINGS``)."""
        return self.warnings_flag == "1"

    def __post_init__(self) -> None:
        """Reject a setting no code path would read."""
        for name, flag in (("EVIDENCE", self.evidence_flag), ("WARNINGS", self.warnings_flag)):
            if flag not in ("0", "1"):
                raise SettingsError(f"SELLERWATCH_{name} is 0 or 1, not {flag!r}")
        if self.ingest == "sequenced":
            raise SettingsError(
                "SELLERWATCH_INGEST=sequenced was removed (it was slower than direct ingest and "
                "split no work); unset it, and use SELLERWATCH_PARTITIONS to split the state"
            )
        if self.ingest not in INGEST_MODES:
            raise SettingsError(f"SELLERWATCH_INGEST is 'direct' if set, not {self.ingest!r}")
        if self.max_waiting < 0:
            raise SettingsError(
                f"SELLERWATCH_MAX_WAITING_EVENTS is 0 (off) or more, not {self.max_waiting}"
            )
        if self.liveness_s <= 0:
            raise SettingsError(f"SELLERWATCH_LIVENESS_S must be positive, not {self.liveness_s}")
        if self.stop_timeout_s <= 0:
            raise SettingsError(
                f"SELLERWATCH_STOP_TIMEOUT_S must be positive, not {self.stop_timeout_s}"
            )
        if not 1 <= self.partitions <= MAX_PARTITIONS:
            raise SettingsError(
                f"SELLERWATCH_PARTITIONS is 1 to {MAX_PARTITIONS}, not {self.partitions}"
            )
        if self.role not in ROLES:
            raise SettingsError(f"SELLERWATCH_ROLE is one of {', '.join(ROLES)}, not {self.role!r}")
        if self.replication_factor < 1:
            raise SettingsError(
                f"SELLERWATCH_REPLICATION_FACTOR must be at least 1, not {self.replication_factor}"
            )
        if self.input_retention:
            self.input_retention_ms()  # fails now, not when the topics are created

    def input_retention_ms(self) -> int:
        """The input topics' retention: the setting, or what the policy's rules read."""
        from sellerwatch.streams.policy import PolicyError, parse_duration_ms

        if not self.input_retention:
            return policy_retention_ms(self.policy())
        try:
            return parse_duration_ms(self.input_retention, "SELLERWATCH_INPUT_RETENTION")
        except PolicyError as exc:
            raise SettingsError(str(exc)) from None

    def policy(self) -> Policy:
        """The policy in force (SPEC defaults without a file)."""
        return load_policy(self.policy_path) if self.policy_path else Policy()


DAY_MS = 86_400_000


def longest_window_ms(policy: Policy) -> int:
    """How far back in event time any rule (or the id memory) reads, at its evaluation.

    ``quality_refund`` reads 30 days before ``E_T``; ``ship48_pickup24`` its window plus its
    lag (T-10 .. T-4); ``same_day_ship`` a week evaluated 9 days after its Monday; the paid
    order ids are remembered ``order_horizon`` (35 days): a rebuild from the inputs must see them.
    """
    s48, p48, qr = policy.ship48_pickup24, policy.pickup48, policy.quality_refund
    return max(
        (qr.window_days + 1) * DAY_MS,
        (s48.window_days + s48.lag_days) * DAY_MS,
        (p48.lag_days + 1) * DAY_MS,
        9 * DAY_MS,
        policy.order_horizon_ms,
    )


def policy_retention_ms(policy: Policy) -> int:
    """The longest window plus the allowed lateness, rounded up to whole days (36 by default)."""
    needed = longest_window_ms(policy) + policy.allowed_lateness_ms
    return -(-needed // DAY_MS) * DAY_MS


def redis_password() -> str | None:
    """``SELLERWATCH_REDIS_PASSWORD`` or the file ``SELLERWATCH_REDIS_PASSWORD_FILE`` names."""
    return secret("SELLERWATCH_REDIS_PASSWORD")


def web_token() -> str | None:
    """The bearer token of the web views (``SELLERWATCH_WEB_TOKEN(_FILE)``); ``None``: open."""
    return secret("SELLERWATCH_WEB_TOKEN")

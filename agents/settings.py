"""Worker settings, from command-line flags and ``SELLERWATCH_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from streams.policy import Policy, load_policy

INGEST_MODES = ("direct", "sequenced")


class SettingsError(ValueError):
    """A ``SELLERWATCH_*`` variable or flag the worker cannot use (a one-line CLI error)."""


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
    #: Seconds between engine snapshots (state + log offset, committed with the outputs).
    #: A forked child pickles the state, so the engine pauses only for the fork (~10 ms); a
    #: restart replays about this much of the log.
    snapshot_interval_s: float = field(
        default_factory=lambda: _env_number("SNAPSHOT_INTERVAL_S", "300", float)
    )
    #: ``direct``: the engine owner reads the inputs itself (fast; other workers stand by);
    #: ``sequenced``: every worker copies its share of the inputs into the engine log.
    ingest: str = field(default_factory=lambda: _env("INGEST", "direct"))
    web_port: int = field(default_factory=lambda: _env_number("WEB_PORT", "6066", int))
    input_partitions: int = field(default_factory=lambda: _env_number("INPUT_PARTITIONS", "4", int))
    #: Stage instance id, part of the transactional ids (unique per worker process).
    instance: str = field(default_factory=lambda: _env("INSTANCE", f"{os.getpid()}"))

    def __post_init__(self) -> None:
        """Reject a setting no code path would read."""
        if self.ingest not in INGEST_MODES:
            raise SettingsError(f"SELLERWATCH_INGEST is one of {INGEST_MODES}, not {self.ingest!r}")

    def policy(self) -> Policy:
        """The policy in force (SPEC defaults without a file)."""
        return load_policy(self.policy_path) if self.policy_path else Policy()

"""Topic names, partition counts and retention (SPEC §2, §4.5), all under one prefix.

========================  ==========  =======================================================
topic                     partitions  what
========================  ==========  =======================================================
payments, shipments,      4 (input)   the platform's events, keyed as SPEC §2 says; kept as
pickup-scans, refunds,                long as the policy's longest window plus its lag (36
seller-programs                       days by default, ``SELLERWATCH_INPUT_RETENTION``)
sellerwatch.engine-log    1           every input record in the one order the engine applied
                                      it, plus idle/end-of-partition markers (7 days)
sellerwatch.engine-state  1, compact  engine snapshots: chunks + manifest, per transaction
sellerwatch.partition-    N (state    with partition workers (``SELLERWATCH_ROLE``): the
  log                     partitions) coordinator's messages to each state partition, one
                                      record per partition per transaction (7 days)
sellerwatch.partition-    1           the partitions' answers to the coordinator's asks
  answers                             (7 days)
sellerwatch.partition-    1, compact  each partition's snapshots, keys prefixed ``<i>/``
  state
verdicts.tag, .delist,    4           verdicts keyed by subject id (shop or item)
.fine, .watch,
.incentive
sellerwatch.dead-letter   1           rejected records: raw bytes + reason + source position
sellerwatch.late          1           late records + the watermark they missed
sellerwatch.metrics       1           every evaluation's figures
sellerwatch.evidence      4           the orders behind each verdict, keyed like it (only
                                      with ``SELLERWATCH_EVIDENCE=1``)
sellerwatch.warnings      4           early warnings of delists and fines, keyed by subject
                                      (only with ``SELLERWATCH_WARNINGS=1``)
========================  ==========  =======================================================

Every topic gets ``SELLERWATCH_REPLICATION_FACTOR`` replicas (1 by default: one local broker)
and takes records up to :data:`MESSAGE_BYTES_MAX` (8 MiB).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sellerwatch.agents.kafka_security import client_options, start_client
from sellerwatch.agents.settings import SettingsError
from sellerwatch.schemas.events import TOPIC_OF_TYPE
from sellerwatch.schemas.verdict import TOPIC_OF_KIND

INPUT_TOPICS: tuple[str, ...] = tuple(dict.fromkeys(TOPIC_OF_TYPE.values()))
VERDICT_TOPICS: tuple[str, ...] = tuple(dict.fromkeys(TOPIC_OF_KIND.values()))
ENGINE_LOG = "sellerwatch.engine-log"
ENGINE_STATE = "sellerwatch.engine-state"
PARTITION_LOG = "sellerwatch.partition-log"
PARTITION_ANSWERS = "sellerwatch.partition-answers"
PARTITION_STATE = "sellerwatch.partition-state"
DEAD_LETTER = "sellerwatch.dead-letter"
LATE = "sellerwatch.late"
METRICS = "sellerwatch.metrics"
EVIDENCE = "sellerwatch.evidence"
WARNINGS = "sellerwatch.warnings"

WEEK_MS = 7 * 86_400_000
#: Every topic's ``max.message.bytes`` (the producers' ``max_request_size``): ids are as long
#: as a record allows (1 MiB, SPEC §6), so a verdict naming a long item id, or the input record
#: keyed by it, can pass the broker's default 1 MiB; at that default the transaction carrying
#: it failed at every rebuild.
MESSAGE_BYTES_MAX = 8 * 1024 * 1024


@dataclass(frozen=True)
class TopicSpec:
    """One topic to create: name (without prefix), partitions and config."""

    name: str
    partitions: int
    config: dict[str, str]


def topic_specs(
    input_partitions: int = 4,
    input_retention_ms: int = 36 * 86_400_000,
    state_partitions: int = 1,
) -> list[TopicSpec]:
    """Every topic the worker reads or writes (``state_partitions``: the partition log's)."""
    retention = {"retention.ms": str(input_retention_ms)}
    specs = [TopicSpec(t, input_partitions, dict(retention)) for t in INPUT_TOPICS]
    specs += [
        TopicSpec(ENGINE_LOG, 1, {"retention.ms": str(WEEK_MS)}),
        TopicSpec(ENGINE_STATE, 1, {"cleanup.policy": "compact"}),
        TopicSpec(PARTITION_LOG, state_partitions, {"retention.ms": str(WEEK_MS)}),
        TopicSpec(PARTITION_ANSWERS, 1, {"retention.ms": str(WEEK_MS)}),
        TopicSpec(PARTITION_STATE, 1, {"cleanup.policy": "compact"}),
        TopicSpec(DEAD_LETTER, 1, {"retention.ms": str(4 * WEEK_MS)}),
        TopicSpec(LATE, 1, {"retention.ms": str(4 * WEEK_MS)}),
        TopicSpec(METRICS, 1, {"retention.ms": str(WEEK_MS)}),
        # kept as long as the verdicts: it answers their appeals
        TopicSpec(EVIDENCE, 4, {"retention.ms": str(52 * WEEK_MS)}),
        TopicSpec(WARNINGS, 4, {"retention.ms": str(4 * WEEK_MS)}),
    ]
    specs += [TopicSpec(t, 4, {"retention.ms": str(52 * WEEK_MS)}) for t in VERDICT_TOPICS]
    for spec in specs:
        spec.config["max.message.bytes"] = str(MESSAGE_BYTES_MAX)
    return specs


class Topics:
    """Topic names under a prefix (``--topic-prefix``, ``SELLERWATCH_TOPIC_PREFIX``)."""

    def __init__(self, prefix: str = "") -> None:
        """Names for one isolated run."""
        self.prefix = prefix

    def __call__(self, name: str) -> str:
        """The full name of a topic."""
        return f"{self.prefix}{name}"

    def inputs(self) -> list[str]:
        """The input topics, prefixed."""
        return [self(t) for t in INPUT_TOPICS]

    def verdicts(self) -> list[str]:
        """The verdict topics, prefixed."""
        return [self(t) for t in VERDICT_TOPICS]

    def unprefixed(self, name: str) -> str:
        """A topic's name without the prefix (the engine's partition ids stay prefix-free)."""
        return name[len(self.prefix) :] if name.startswith(self.prefix) else name


async def ensure_topics(
    bootstrap: str,
    topics: Topics,
    input_partitions: int = 4,
    *,
    input_retention_ms: int | None = None,
    replication_factor: int | None = None,
    state_partitions: int | None = None,
) -> None:
    """Create missing topics with their partition counts and config (idempotent).

    Retention and replication default to the ``SELLERWATCH_*`` settings (and the policy);
    existing topics are left as they are (``kafka-configs`` changes their retention).
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from sellerwatch.agents.settings import Settings

    if input_retention_ms is None or replication_factor is None or state_partitions is None:
        settings = Settings()
        if input_retention_ms is None:
            input_retention_ms = settings.input_retention_ms()
        if replication_factor is None:
            replication_factor = settings.replication_factor
        if state_partitions is None:
            state_partitions = settings.partitions
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    await start_client(admin, bootstrap)
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(topics(s.name), s.partitions, replication_factor, topic_configs=s.config)
            for s in topic_specs(input_partitions, input_retention_ms, state_partitions)
            if topics(s.name) not in existing
        ]
        if new:
            response = await admin.create_topics(new)
            _raise_for_errors(response)
        await _grow_partition_log(admin, topics(PARTITION_LOG), state_partitions, existing)
    finally:
        await admin.close()


async def _grow_partition_log(admin: Any, log: str, partitions: int, existing: set[str]) -> None:
    """Give the partition log a partition per state partition, if it was created with fewer
    (by a command run without ``SELLERWATCH_PARTITIONS``): its records name their partition,
    so adding partitions moves none of them."""
    from aiokafka.admin import NewPartitions

    if log not in existing:
        return
    described = await admin.describe_topics([log])
    have = len(described[0]["partitions"]) if described else 0
    if 0 < have < partitions:
        _raise_for_errors(await admin.create_partitions({log: NewPartitions(partitions)}))


class TopicCreationError(SettingsError):
    """The broker refused to create a topic (e.g. more replicas than brokers): a one-line error."""


#: TOPIC_ALREADY_EXISTS: another worker created it first, which is fine.
_ALREADY_EXISTS = 36


def _raise_for_errors(response: Any) -> None:
    """aiokafka returns the broker's per-topic errors instead of raising them."""
    refused = [
        f"{entry[0]}: {entry[2] or f'error code {entry[1]}'}"
        for entry in getattr(response, "topic_errors", ())
        if entry[1] not in (0, _ALREADY_EXISTS)
    ]
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise TopicCreationError(f"the broker refused to create {refused[0]}{more}")


async def input_partitions(bootstrap: str, topics: Topics) -> list[tuple[str, int]]:
    """``(prefixed topic, partition)`` of every input partition, from fresh cluster metadata."""
    from aiokafka import AIOKafkaConsumer

    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, **client_options())
    await start_client(probe, bootstrap)
    try:
        metadata = await probe._client.fetch_all_metadata()  # noqa: SLF001 - no public call
        return [
            (topic, p)
            for topic in topics.inputs()
            for p in sorted(metadata.partitions_for_topic(topic) or ())
        ]
    finally:
        await probe.stop()

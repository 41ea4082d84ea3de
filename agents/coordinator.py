"""The coordinator of a deployment whose state partitions live in partition workers.

It is the engine owner of :mod:`agents.direct` — it reads every input partition, classifies
each record once (duplicate, late, second payment), logs its decisions and commits its outputs
in transactions — but its engine is a :class:`streams.remote.RemoteCoordinator`, which holds
no order: what it routes to state partition ``i`` goes, in the same transaction, as one record
on partition ``i`` of ``sellerwatch.partition-log``, and at an evaluation instant it asks every
partition and parks until their answers are on ``sellerwatch.partition-answers``.

The partitions hold the id memory too (keyed by ``event_id``): before it takes a batch it read,
the coordinator asks each partition the ts it remembers the batch's ids with (``["recall"]``
in the engine log) and parks until they answer, then classifies the batch itself. Reading
answers is one more kind of decision: ``["answers", source, first, end]`` in the engine log,
the offset range of the answers it applied. A new owner replays it like the
input ranges, by re-reading the same answers (``read_committed``), so it parks and resumes at
the same points and rebuilds the same state, without sending again what it sent before: the
partition log already holds it. While an instant is parked the coordinator reads no input;
it waits for the answers with the step deadline on every call, and says in its log which
partitions it is waiting for.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from sellerwatch.agents.deadlines import StateRefused, stop_client, within
from sellerwatch.agents.direct import DirectRunner
from sellerwatch.agents.engine_runner import Published
from sellerwatch.agents.envelope import source_id
from sellerwatch.agents.framing import Joiner, frames
from sellerwatch.agents.kafka_security import client_options
from sellerwatch.agents.outputs import OutRecord
from sellerwatch.agents.settings import Settings
from sellerwatch.agents.topics import PARTITION_ANSWERS, PARTITION_LOG
from sellerwatch.streams import remote
from sellerwatch.streams.engine import Engine
from sellerwatch.streams.remote import RemoteCoordinator
from sellerwatch.streams.snapshot import SnapshotError

log = logging.getLogger(__name__)

ANSWERS = "answers"
#: A decision: the ids of the batch read next were recalled (an ask; ``ANSWERS`` follows).
RECALL = "recall"
#: Seconds between the log lines naming the partitions an instant still waits for.
WAITING_REPORT_S = 10.0


class CoordinatorRunner(DirectRunner):
    """The engine owner whose state partitions answer from partition workers."""

    def __init__(self, settings: Settings, published: Published | None = None) -> None:
        """A coordinator for ``settings`` (``SELLERWATCH_PARTITIONS`` partitions)."""
        super().__init__(settings, published)
        self.answers_tp = TopicPartition(self.topics(PARTITION_ANSWERS), 0)
        self.answers_source = source_id(PARTITION_ANSWERS, 0)
        self.log_topic = self.topics(PARTITION_LOG)
        self.answer_reader = self._answer_reader()
        self.received: dict[int, Any] = {}
        self.received_from: int | None = None
        self.joiner = Joiner()
        self.waiting_since = time.monotonic()
        self.waiting_reported = 0.0
        self.messages_sent = 0
        #: The batch being taken (the backlog) had its ids recalled.
        self.recalled = False

    def _answer_reader(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            **client_options(),
        )

    def _new_engine(self, options: dict[str, Any]) -> Engine:
        return RemoteCoordinator(
            self.settings.policy(), partitions=self.settings.partitions, **options
        )

    def _reconnect(self) -> None:
        super()._reconnect()
        self.recalled = False
        self.answer_reader = self._answer_reader()
        self.received, self.received_from = {}, None
        self.joiner = Joiner()

    async def _open(self) -> None:
        await super()._open()
        await within(self.deadlines.client_s, self.answer_reader.start(), "starting answers")
        self.answer_reader.assign([self.answers_tp])

    async def _close(self) -> None:
        await stop_client(self.answer_reader, self.deadlines.stop_s, "the answer reader")
        await super()._close()

    def _remote(self) -> RemoteCoordinator:
        engine = self.engine
        if not isinstance(engine, RemoteCoordinator):
            raise self._refused(
                "it holds every state partition in one engine (SELLERWATCH_ROLE=engine), "
                "not the coordinator of partition workers"
            )
        return engine

    # -- the hot path -------------------------------------------------------------------------
    async def _step(self) -> None:
        engine = self.engine
        if self.active and engine is not None and engine.asking is not None:
            await self._kafka(self.consumer.getmany(self.log_tp, timeout_ms=0), "getmany (log)")
            await self._read_answers()
            return
        await super()._step()

    async def _process(
        self, batch: dict[TopicPartition, list[Any]], markers: list[tuple[bytes, TopicPartition]]
    ) -> None:
        """A batch read is first recalled: each partition is asked the ts it remembers the
        batch's ids with (the id memory is keyed by ``event_id`` over the partitions) and the
        scans it keeps of the waybills the batch's shipments name (each decoded once), in one
        transaction that logs the ask as a decision; the batch waits as the backlog until the
        answers are in, and is then taken as by one engine owner."""
        if batch and not self.recalled:
            engine = self._remote()
            engine.recall_lines(
                message.value or b"" for messages in batch.values() for message in messages
            )
            self.recalled = True
            self.backlog, self.backlog_markers = batch, markers
            await self._publish([], {}, 0, decision=orjson.dumps([[RECALL]]))
            return
        await super()._process(batch, markers)
        if not self.backlog:
            self.recalled = False

    async def _read_answers(self) -> None:
        """Collect the partitions' answers to the ask in flight; once all are in, resume the
        instant and commit what it produced, with the answers' offsets as its decision."""
        engine = self._remote()
        batch = await self._kafka(
            self.answer_reader.getmany(self.answers_tp, timeout_ms=100, max_records=1000),
            "getmany (answers)",
        )
        for record in batch.get(self.answers_tp, ()):
            if self.received_from is None:
                self.received_from = record.offset
            self._receive(engine, record)
            if len(self.received) == len(engine.shards):
                end = record.offset + 1
                self.answer_reader.seek(self.answers_tp, end)  # nothing else can follow
                await self._resume(engine, end)
                return
        self._broker_answered()
        self._report_waiting(engine)

    def _receive(self, engine: RemoteCoordinator, record: Any) -> None:
        blob = self.joiner.add(record.key, record.value or b"", list(record.headers or ()))
        if blob is None:
            return  # more frames to come
        try:
            index, number, answer = remote.decode_answer(blob)
        except SnapshotError as exc:  # not ours to run: say so once, never retry it
            raise StateRefused(
                f"cannot read the answer at {self.answers_tp.topic} offset {record.offset} "
                f"({exc}). Stop every worker and run `sellerwatch reset`"
            ) from None
        if number != engine.asks or index in self.received:
            raise RuntimeError(
                f"partition {index} answered ask {number} while ask {engine.asks} waits "
                f"(received so far: {sorted(self.received)})"
            )
        self.received[index] = answer

    async def _resume(self, engine: RemoteCoordinator, end: int) -> None:
        start, received = self.received_from, self.received
        self.received, self.received_from = {}, None
        engine.answer([received[i] for i in range(len(engine.shards))])
        decision = [[ANSWERS, self.answers_source, start, end]]
        self.waiting_since = time.monotonic()
        await self._publish([], {self.answers_tp: end}, 0, decision=orjson.dumps(decision))

    def _report_waiting(self, engine: RemoteCoordinator) -> None:
        now = time.monotonic()
        if now - self.waiting_since < WAITING_REPORT_S or now - self.waiting_reported < 10:
            return
        self.waiting_reported = now
        missing = sorted(set(range(len(engine.shards))) - set(self.received))
        log.warning(
            "coordinator: ask %d (%s) has waited %.0fs for state partitions %s "
            "(is a partition worker running?)",
            engine.asks,
            engine.asking.step if engine.asking else "?",
            now - self.waiting_since,
            missing,
        )

    async def _publish(
        self,
        out: list[OutRecord],
        offsets: dict[TopicPartition, int],
        records: int,
        decision: bytes | None = None,
    ) -> None:
        """The engine's outputs and, in the same transaction, each partition's messages."""
        engine = self._remote()
        for index, messages in enumerate(engine.take_messages()):
            if messages:
                for value, headers in frames(remote.encode_messages(messages)):
                    out.append(OutRecord(self.log_topic, None, value, headers, index))
                self.messages_sent += len(messages)
        if engine.asking is not None:
            self.waiting_since = time.monotonic()
        await super()._publish(out, offsets, records, decision)

    async def _snapshot_step(self, producer: Any, engine: Engine, offset: int) -> int | None:
        """Snapshots are taken between instants only (a parked instant is not state)."""
        if engine.asking is not None and self.pending_snapshot is None:
            return None
        return await super()._snapshot_step(producer, engine, offset)

    # -- taking over --------------------------------------------------------------------------
    async def _rebuild(self, start: int, committed: int) -> None:
        self.recalled = False  # a batch read before is read again, and recalled again
        await super()._rebuild(start, committed)
        position = await self._kafka(self.consumer.committed(self.answers_tp), "committed")
        if position is None:
            await self._kafka(self.answer_reader.seek_to_beginning(self.answers_tp), "seek")
        else:
            self.answer_reader.seek(self.answers_tp, position)
        self.received, self.received_from = {}, None
        self.joiner = Joiner()
        self._remote().take_messages()  # sent before the take-over
        self.waiting_since = time.monotonic()

    async def _replay_decision(self, engine: Engine, decision: list[list[Any]]) -> None:
        for entry in decision:
            if entry[0] == RECALL:  # what it asked is in the log; the answers say what counts
                self._remote().recall([])
                self._remote().take_messages()
                continue
            if entry[0] != ANSWERS:
                await super()._replay_decision(engine, [entry])
                continue
            coordinator = self._remote()
            async for message in self._replay_range(
                self.answers_tp, entry[2], entry[3], self.answer_reader
            ):
                self._receive(coordinator, message)
            if len(self.received) != len(coordinator.shards):
                raise RuntimeError(
                    f"the logged answers {entry[2]}..{entry[3] - 1} hold "
                    f"{len(self.received)} of {len(coordinator.shards)} partitions' answers"
                )
            received, self.received = self.received, {}
            coordinator.answer([received[i] for i in range(len(coordinator.shards))])
            coordinator.take_messages()  # sent before the take-over

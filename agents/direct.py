"""The engine's feed: its owner reads every input partition itself.

Copying each input record into the engine log and reading it back (the sequenced ingest this
replaced) costs two consumes, one produce and two broker writes per record before the engine
sees it. Here the owner of the engine log reads the inputs directly and logs only its
*decisions*: one small record per
transaction listing, in the order it applied them, the input offset ranges and the idle or
end-of-partition markers. That record, the outputs and the input offsets commit together.

A new owner rebuilds the state exactly: it loads the snapshot, then replays each logged decision
by re-reading the same offset ranges from the input topics (``read_committed``, so the same
records) in the same order, without emitting. The wall clock decided the idle markers once; the
log remembers them.

Inputs must therefore be kept at least as long as the snapshot interval (they are: 7 days).
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from sellerwatch.agents.clients import MIB
from sellerwatch.agents.deadlines import stop_client, within
from sellerwatch.agents.engine_runner import APPLIED, DUPLICATE, EngineRunner, Published
from sellerwatch.agents.envelope import DECISION, EVENT, source_id
from sellerwatch.agents.kafka_security import client_options
from sellerwatch.agents.outputs import OutRecord
from sellerwatch.agents.partition_watch import PartitionWatch
from sellerwatch.agents.read_ahead import plan_read_ahead
from sellerwatch.agents.settings import Settings
from sellerwatch.agents.topics import input_partitions
from sellerwatch.streams.engine import Engine

#: A partition of a range that keeps coming back empty this many times is missing records.
_EMPTY_FETCHES_BEFORE_GIVING_UP = 60


class DirectRunner(EngineRunner):
    """The engine owner, reading the input partitions without the engine log in between."""

    def __init__(
        self, settings: Settings, published: Published | None = None, *, stop_at_end: bool = False
    ) -> None:
        """A runner; ``stop_at_end`` finishes partitions at the end offsets seen at start."""
        super().__init__(settings, published)
        self.stop_at_end = stop_at_end
        self.inputs = self._input_reader()
        self.watch = PartitionWatch(settings.idle_timeout_ms, stop_at_end=stop_at_end)
        self.sources: dict[TopicPartition, str] = {}
        self.by_source: dict[str, TopicPartition] = {}
        self._replay_buffers: dict[TopicPartition, deque[Any]] = {}
        self._replay_next: dict[TopicPartition, int] = {}
        #: Records read but not taken, and the markers after them: an engine whose instant
        #: waits for its partitions (``engine.asking``) takes no record until it is answered.
        self.backlog: dict[TopicPartition, list[Any]] = {}
        self.backlog_markers: list[tuple[bytes, TopicPartition]] = []
        #: Input partitions paused while too many records wait for W (read_ahead.py).
        self.held_back = 0
        #: Records taken per step: 50,000, or as many as the bound of what may wait when it is
        #: smaller (1,000 at least), so that what waits stays within a few times the bound.
        bound = settings.max_waiting
        self._batch_records = min(50_000, max(1_000, bound)) if bound > 0 else 50_000

    def _input_reader(self) -> AIOKafkaConsumer:
        # No group: the engine group's ownership of the log decides who reads, and the input
        # offsets are committed for that group inside the engine's transactions.
        return AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            # Small enough that one fetch brings some of *every* partition: the watermark is
            # their minimum, so reading them in step keeps the pending queue short.
            max_partition_fetch_bytes=MIB,
            fetch_max_bytes=32 * MIB,
            **client_options(),
        )

    def _reconnect(self) -> None:
        super()._reconnect()
        self.backlog, self.backlog_markers = {}, []
        self.inputs = self._input_reader()
        self.watch = PartitionWatch(self.settings.idle_timeout_ms, stop_at_end=self.stop_at_end)

    async def _open(self) -> None:
        await within(self.deadlines.client_s, self.inputs.start(), "starting the input reader")

    async def _close(self) -> None:
        await stop_client(self.inputs, self.deadlines.stop_s, "the input reader")

    async def _step(self) -> None:
        if not self.active:
            # Stand-by: take part in the group, so this worker can take over.
            await self._kafka(
                self.consumer.getmany(self.log_tp, timeout_ms=100, max_records=1), "getmany"
            )
            self._broker_answered()
            return
        # paused: a heartbeat
        await self._kafka(self.consumer.getmany(self.log_tp, timeout_ms=0), "getmany (log)")
        if self.backlog or self.backlog_markers:  # read before an instant stopped the engine
            batch, markers = self.backlog, self.backlog_markers
            self.backlog, self.backlog_markers = {}, []
            await self._process(batch, markers)
            return
        self._align()
        batch = await self._kafka(
            self.inputs.getmany(timeout_ms=100, max_records=self._batch_records),
            "getmany (inputs)",
        )
        markers = await self._kafka(self.watch.due(self.inputs, batch), "checking idle inputs")
        if (batch or markers) and self.active:
            await self._process(batch, markers)
        if self.active:
            await self._track_progress(self.inputs, list(self.sources))
            if not batch and not self.progress.input_waiting:
                self._idle_poll()

    def _align(self) -> None:
        """Pause the input partitions ahead of W while too many records wait for it, resume
        them once the queue is short again (agents/read_ahead.py)."""
        engine = self.engine
        if engine is None:
            return
        paused = self.inputs.paused()
        pause, resume = plan_read_ahead(
            engine.clock, self.sources, paused, engine.waiting, self.settings.max_waiting
        )
        if pause:
            self.inputs.pause(*pause)
        if resume:
            self.inputs.resume(*resume)
        self.held_back = len(paused) + len(pause) - len(resume)

    async def _catch_up_target(self) -> dict[TopicPartition, int]:
        if not self.sources:
            return {}
        ends: dict[TopicPartition, int] = await self._kafka(
            self.inputs.end_offsets(list(self.sources)), "end offsets"
        )
        return ends

    async def stand_by(self) -> None:
        """Give up the engine and stop reading the inputs."""
        await super().stand_by()
        assigned = self.inputs.assignment()
        if assigned:
            self.watch.revoked(assigned)
            # Paused, not unsubscribed: aiokafka 0.14's stop() hangs after unsubscribe() on a
            # manually assigned consumer (seen as a worker that never exits on SIGTERM).
            self.inputs.pause(*assigned)

    # -- the hot path --------------------------------------------------------------------
    async def _process(
        self, batch: dict[TopicPartition, list[Any]], markers: list[tuple[bytes, TopicPartition]]
    ) -> None:
        engine = self.engine
        assert engine is not None  # noqa: S101
        accept_raw = engine.accept_raw
        out: list[OutRecord] = []
        decision: list[list[Any]] = []
        offsets: dict[TopicPartition, int] = {}
        count = 0
        for tp, messages in batch.items():
            if engine.asking is not None:  # an instant waits: the rest is taken after it
                self.backlog[tp] = messages
                continue
            source = self.sources[tp]
            taken = 0
            for message in messages:
                if engine.asking is not None:
                    break
                raw = message.value or b""
                outcome, rejected = accept_raw(raw, source)
                if outcome is not APPLIED and outcome is not DUPLICATE:
                    offset = message.offset
                    out.append(self._diverted(engine, raw, source, offset, outcome, rejected))
                taken += 1
            end = messages[taken - 1].offset + 1
            decision.append([EVENT.decode(), source, messages[0].offset, end])
            offsets[tp] = end
            count += taken
            if taken < len(messages):
                self.backlog[tp] = messages[taken:]
        if self.backlog:  # markers come after the records read before them
            self.backlog_markers = markers
            markers = []
        for kind, tp in markers:
            self._apply_marker(engine, kind, self.sources[tp])
            decision.append([kind.decode(), self.sources[tp]])
        await self._publish(out, offsets, count, decision=orjson.dumps(decision))

    # -- taking over ---------------------------------------------------------------------
    async def _rebuild(self, start: int, committed: int) -> None:
        """Replay the decisions in ``[start, committed)`` from the input topics, then position
        the input reader at the committed input offsets."""
        engine = self.engine
        assert engine is not None  # noqa: S101
        # Records read under an ownership given up are read again from the committed offsets.
        self.backlog, self.backlog_markers = {}, []
        found = await self._kafka(
            input_partitions(self.settings.bootstrap, self.topics), "listing the input partitions"
        )
        partitions = [TopicPartition(t, p) for t, p in found]
        self.sources = {
            tp: source_id(self.topics.unprefixed(tp.topic), tp.partition) for tp in partitions
        }
        self.by_source = {source: tp for tp, source in self.sources.items()}
        self.inputs.assign(partitions)  # replaces the old assignment, pauses included
        self._replay_buffers.clear()
        self._replay_next.clear()
        self.consumer.seek(self.log_tp, start)
        while await self._kafka(self.consumer.position(self.log_tp), "position") < committed:
            batch = await self._kafka(
                self.consumer.getmany(self.log_tp, timeout_ms=500, max_records=500), "getmany"
            )
            for record in batch.get(self.log_tp, ()):
                if record.offset >= committed:
                    break
                if dict(record.headers or ()).get("sw-kind") != DECISION:
                    raise RuntimeError(
                        f"{self.log_tp.topic} was written by sequencers (a mode removed, "
                        "docs/decisions.md #23); use a fresh topic prefix or sellerwatch reset"
                    )
                await self._replay_decision(engine, orjson.loads(record.value))
                self._replayed(engine)
        self.consumer.pause(self.log_tp)  # from now on the log is only written
        self._replay_buffers.clear()
        for tp in partitions:
            position = await self._kafka(self.consumer.committed(tp), "committed offsets")
            if position is None:
                await self._kafka(self.inputs.seek_to_beginning(tp), "seek to beginning")
            else:
                self.inputs.seek(tp, position)
        await self._kafka(self.watch.assigned(self.inputs, partitions), "end offsets")

    async def _replay_decision(self, engine: Engine, decision: list[list[Any]]) -> None:
        for entry in decision:
            kind, source = entry[0].encode(), entry[1]
            if kind == EVENT:
                async for message in self._replay_range(self.by_source[source], entry[2], entry[3]):
                    engine.accept_raw(message.value or b"", source)
            else:
                self._apply_marker(engine, kind, source)

    async def _replay_range(
        self, tp: TopicPartition, start: int, end: int, reader: AIOKafkaConsumer | None = None
    ) -> AsyncIterator[Any]:
        """The records of ``tp`` with ``start <= offset < end``, as first read (by the input
        reader unless told)."""
        reader = reader or self.inputs
        buffer = self._replay_buffers.setdefault(tp, deque())
        if self._replay_next.get(tp) != start:
            reader.seek(tp, start)
            buffer.clear()
        self._replay_next[tp] = end
        empty = 0
        while True:
            while buffer and buffer[0].offset < start:
                buffer.popleft()
            while buffer and buffer[0].offset < end:
                yield buffer.popleft()
            if buffer or await self._kafka(reader.position(tp), "position") >= end:
                return
            fetched = (
                await self._kafka(reader.getmany(tp, timeout_ms=500, max_records=20_000), "getmany")
            ).get(tp)
            if fetched:
                buffer.extend(fetched)
                empty = 0
            else:
                empty += 1
                if empty >= _EMPTY_FETCHES_BEFORE_GIVING_UP:
                    raise RuntimeError(
                        f"cannot re-read {tp.topic}:{tp.partition} offsets {start}..{end - 1} "
                        "that the engine applied (deleted by retention?)"
                    )

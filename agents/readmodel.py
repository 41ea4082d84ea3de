"""Redis read model: current figures and latest verdicts per shop and item.

Key layout (``P`` = topic prefix), every key expiring ``ttl`` after its last write (60 days):

- ``sellerwatch:P:item:<item_id>``: hash; ``verdict:<rule>`` = the item's latest verdict of that
  rule (JSON), ``figures:<rule>`` = its latest evaluation (period, numerator, denominator, verdict).
- ``sellerwatch:P:shop:<shop_id>``: hash; the same for shop rules (``same_day_ship``), plus
  ``item_verdict:<kind>`` = the latest verdict of that kind about any of the shop's items.

The password comes from ``SELLERWATCH_REDIS_PASSWORD(_FILE)``, not from the URL, so that it
is on no command line and in no ConfigMap (a password in the URL still works).

- ``sellerwatch:P:progress``: hash; ``log_offset`` = the engine log offset up to which every
  committed output is in Redis (written in the same MULTI as the outputs); ``missing`` = the
  log offsets whose outputs may be absent (see below); ``rebuilt`` = when
  ``sellerwatch rebuild-read-model`` last wrote everything.

Redis going away must neither stop the engine nor lose what it should show: a write that fails
is kept (merged under anything newer for the same keys) and tried again, backing off, until
Redis answers; every call has a deadline, so a Redis that stops answering fails a write instead
of holding it. The worker's ``/stats/`` and ``/metrics`` show the keys waiting to be written.

A worker killed before it wrote what it committed loses those writes with its memory. The next
engine owner re-derives the outputs of the log it replays (from its snapshot's offset) and
writes them again (:meth:`ReadModel.recovered`). That mends Redis exactly when Redis already
held everything before the snapshot's offset, which ``log_offset`` tells, and the engine runner
commits a snapshot only once :meth:`ReadModel.written_through` its offset (for at most 30
minutes of Redis outage). A gap left all the same (a longer outage, or a Redis that lost its
data, also found at a write: the worker's own ``log_offset`` is gone) is recorded in
``missing``, logged, shown on ``/stats/`` and ``/metrics``, and filled by the worker from the
output topics while the engine runs (:meth:`ReadModel.begin_refill`,
:func:`agents.readmodel_rebuild.refill`), or by ``sellerwatch rebuild-read-model``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis

from sellerwatch.agents.deadlines import describe
from sellerwatch.agents.settings import redis_password
from sellerwatch.schemas.verdict import Evaluation, Verdict, encode

log = logging.getLogger(__name__)
TTL_S = 60 * 86_400
SHOP_RULES = frozenset({"same_day_ship", "campaign_fulfilment"})
#: Rules whose figures are per (subject, period): one field per period, not the latest only.
PERIOD_RULES = frozenset({"campaign_fulfilment"})
#: Every Redis call's deadline (connecting, or waiting for an answer).
CALL_TIMEOUT_S = 5.0
#: The first wait before a failed write is tried again, doubled after each failure up to the cap.
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 30.0


def _auth() -> dict[str, str]:
    """The ``password`` keyword for ``from_url`` when one is set (the URL's own otherwise)."""
    password = redis_password()
    return {"password": password} if password else {}


#: Raises the hash field ``log_offset`` of ``KEYS[1]`` to ``ARGV[1]``, never lowers it: an owner
#: that lost the engine may write late, after its successor wrote a newer offset. When this
#: worker wrote an offset before (``ARGV[2]``, JSON of what is then missing) and Redis holds none,
#: Redis lost its data since (a restart without persistence): ``missing`` is set, and 1 returned.
_RAISE_MARK = """
local held = redis.call('HGET', KEYS[1], 'log_offset')
local lost = 0
if not held and ARGV[2] ~= '' and redis.call('HEXISTS', KEYS[1], 'rebuilt') == 0 then
  redis.call('HSETNX', KEYS[1], 'missing', ARGV[2])
  lost = 1
end
if tonumber(ARGV[1]) > tonumber(held or '-1') then
  redis.call('HSET', KEYS[1], 'log_offset', ARGV[1])
end
return lost
"""


def item_key(prefix: str, item_id: str) -> str:
    """Hash of one item."""
    return f"sellerwatch:{prefix}:item:{item_id}"


def shop_key(prefix: str, shop_id: str) -> str:
    """Hash of one shop."""
    return f"sellerwatch:{prefix}:shop:{shop_id}"


def progress_key(prefix: str) -> str:
    """Hash of how far the read model is written (module docstring)."""
    return f"sellerwatch:{prefix}:progress"


@dataclass(frozen=True)
class Recovery:
    """A take-over's replay: it re-derived the outputs of the engine log offsets
    ``[replayed_from, log_offset)``; ``replayed_from`` is ``None`` when it began at the log's
    first record (no snapshot), so it re-derived every output ever committed."""

    replayed_from: int | None
    log_offset: int


def verdict_fields(prefix: str, verdict: Verdict) -> list[tuple[str, str]]:
    """The ``(key, field)`` pairs a verdict is written to: its subject's ``verdict:<rule>``;
    for an item's, also its shop's ``item_verdict:<kind>`` and, for a campaign's, the shop's
    ``breach:<period>:<order>`` (every breach of the shop, by campaign)."""
    if verdict.item_id is None:
        return [(shop_key(prefix, verdict.shop_id), f"verdict:{verdict.rule}")]
    shop = shop_key(prefix, verdict.shop_id)
    fields = [
        (item_key(prefix, verdict.item_id), f"verdict:{verdict.rule}"),
        (shop, f"item_verdict:{verdict.kind}"),
    ]
    if verdict.rule in PERIOD_RULES:
        order = verdict.details.get("order_id", verdict.item_id)
        fields.append((shop, f"breach:{verdict.period}:{order}"))
    return fields


def evaluation_field(prefix: str, evaluation: Evaluation) -> tuple[str, str]:
    """The ``(key, field)`` an evaluation's figures are written to: ``figures:<rule>`` of its
    subject (``figures:<rule>:<period>`` for a rule judged per period)."""
    make_key = shop_key if evaluation.rule in SHOP_RULES else item_key
    field = f"figures:{evaluation.rule}"
    if evaluation.rule in PERIOD_RULES:
        field += f":{evaluation.period}"
    return make_key(prefix, evaluation.subject), field


class ReadModel:
    """Writes the worker's outputs into Redis (idempotent: latest value wins).

    Writes are coalesced: while one is in flight, later batches merge into the next one, so a
    subject evaluated every day of a catch-up is written once per write, not once per day.
    """

    def __init__(
        self,
        url: str,
        prefix: str = "",
        ttl_s: int = TTL_S,
        *,
        retry_first_s: float = RETRY_FIRST_S,
        retry_max_s: float = RETRY_MAX_S,
    ) -> None:
        """Connect lazily to ``url``."""
        self.client = aioredis.from_url(
            url, socket_timeout=CALL_TIMEOUT_S, socket_connect_timeout=CALL_TIMEOUT_S, **_auth()
        )
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.retry_first_s, self.retry_max_s = retry_first_s, retry_max_s
        self._staged: dict[str, dict[str, bytes]] = {}
        self._in_flight = 0
        self._writer: asyncio.Task[None] | None = None
        #: Writes that failed (each is kept and tried again).
        self.failed_writes = 0
        #: ``time.monotonic()`` of the first failure of the outage under way, if one is.
        self.failing_since: float | None = None
        #: The engine log offset the outputs submitted so far reach (``None``: none said).
        self._mark: int | None = None
        #: A take-over's replay, to be checked against Redis's ``log_offset`` before the next
        #: write; ``_force_mark``: the next write sets ``log_offset`` even if lower (a replay of
        #: the whole log, after which the log may have been started anew).
        self._recovery: Recovery | None = None
        self._force_mark = False
        #: The log offsets whose outputs Redis may lack (``missing`` in its progress hash).
        self.missing: dict[str, int | None] | None = None
        #: The log offset the last write that succeeded reached (``None``: none yet).
        self.written: int | None = None
        #: Called when a gap is found (the worker starts a refill from the output topics).
        self.on_missing: Callable[[], None] | None = None
        #: While a refill reads back: the fields submitted since it began.
        self._touched: set[tuple[str, str]] | None = None
        #: A refill's values are staged: the write that carries them clears ``missing``.
        self._clear_missing = False

    @property
    def keys_waiting(self) -> int:
        """Keys staged or being written: what Redis does not show yet."""
        return len(self._staged) + self._in_flight

    def stats(self) -> dict[str, Any]:
        """For ``/stats/``: how far behind the read model is."""
        since = self.failing_since
        return {
            "keys_waiting": self.keys_waiting,
            "failed_writes": self.failed_writes,
            "failing_for_s": None if since is None else round(time.monotonic() - since, 1),
            "missing": self.missing,
        }

    def submit(
        self,
        verdicts: list[Verdict],
        evaluations: list[Evaluation],
        log_offset: int | None = None,
    ) -> None:
        """Stage a committed batch's outputs; a background write picks them up.

        ``log_offset``: the engine log offset after the transaction that committed them (the
        write that carries them records it); ``None`` for outputs re-derived by a take-over's
        replay, which :meth:`recovered` accounts for once the replay is done.
        """
        self._stage(verdicts, evaluations)
        if log_offset is not None:
            self._mark = log_offset
        self._kick()

    def recovered(self, replayed_from: int | None, log_offset: int) -> None:
        """A take-over's replay of log offsets ``[replayed_from, log_offset)`` ended, its
        outputs submitted (``None``: from the log's first record): before the next write,
        compare that with how far Redis was written, and record a gap if there is one."""
        self._recovery = Recovery(replayed_from, log_offset)
        self._mark = log_offset
        self._kick()

    def written_through(self, log_offset: int) -> bool:
        """Whether Redis holds every output committed before ``log_offset`` that was submitted
        (nothing waits to be written, or the last write reached it): then a snapshot at that
        offset leaves no output that only this process's memory holds."""
        if self._recovery is None and not self._staged and not self._in_flight:
            return True
        return self.written is not None and self.written >= log_offset

    def _kick(self) -> None:
        if (self._staged or self._recovery) and (self._writer is None or self._writer.done()):
            self._writer = asyncio.ensure_future(self._write_staged())

    async def flushed(self, timeout_s: float | None = None) -> bool:
        """Wait until everything submitted so far is written, at most ``timeout_s`` (a worker
        stopping while Redis is gone); whether it was."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self._writer is not None and not self._writer.done():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            await asyncio.wait({self._writer}, timeout=left)
        return not self._staged

    def _stage(self, verdicts: list[Verdict], evaluations: list[Evaluation]) -> None:
        self._stage_into(self._staged, verdicts, evaluations)
        touched = self._touched
        if touched is not None:  # newer than what a refill under way reads back
            touched.update((k, f) for v in verdicts for k, f in verdict_fields(self.prefix, v))
            touched.update(evaluation_field(self.prefix, e) for e in evaluations)

    def _stage_into(
        self,
        staged: dict[str, dict[str, bytes]],
        verdicts: list[Verdict],
        evaluations: list[Evaluation],
    ) -> None:
        for verdict in verdicts:
            body = encode(verdict)
            for key, field in verdict_fields(self.prefix, verdict):
                staged.setdefault(key, {})[field] = body
        for evaluation in evaluations:  # in order: a later evaluation's figures win
            key, field = evaluation_field(self.prefix, evaluation)
            staged.setdefault(key, {})[field] = encode(evaluation)

    # -- filling a gap from the output topics, in the worker -------------------------------
    def begin_refill(self) -> None:
        """A refill starts reading the output topics: from now on, what is submitted is newer
        than what it reads back, and keeps its fields."""
        self._touched = set()

    def finish_refill(self, verdicts: list[Verdict], evaluations: list[Evaluation]) -> None:
        """Stage what the refill read back (per field, the latest committed value), except
        the fields submitted since it began; the write that carries it clears ``missing``."""
        touched, self._touched = self._touched or set(), None
        back: dict[str, dict[str, bytes]] = {}
        self._stage_into(back, verdicts, evaluations)
        staged = self._staged
        for key, mapping in back.items():
            older = {f: v for f, v in mapping.items() if (key, f) not in touched}
            if older:
                staged[key] = {**older, **staged.get(key, {})}
        self._clear_missing = True
        self._kick()

    def abandon_refill(self) -> None:
        """The refill failed or this worker gave up the engine: the gap stays reported."""
        self._touched = None

    def _gap_found(self) -> None:
        if self.on_missing is not None:
            self.on_missing()

    async def _write_staged(self) -> None:
        """One MULTI per write: an HSET and an EXPIRE per key staged, and the log offset they
        reach; until nothing is staged. A failed write is staged again (under anything newer)
        and tried again after a wait that doubles."""
        delay = self.retry_first_s
        while self._staged or self._recovery:
            fields, self._staged = self._staged, {}
            self._in_flight = len(fields)
            try:
                if self._recovery is not None:
                    await self._check(self._recovery)
                    self._recovery = None
                await self._write(fields, self._mark)
            except Exception as exc:  # noqa: BLE001 - the read model must never stop the engine
                self._in_flight = 0
                self._restage(fields)
                self._failed(exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_s)
                continue
            self._in_flight = 0
            delay = self.retry_first_s
            if self.failing_since is not None:
                log.warning(
                    "redis read model: written again after %.0fs; the updates kept meanwhile "
                    "are in Redis now",
                    time.monotonic() - self.failing_since,
                )
                self.failing_since = None

    async def _write(self, fields: dict[str, dict[str, bytes]], mark: int | None) -> None:
        progress = progress_key(self.prefix)
        pipe = self.client.pipeline(transaction=True)
        for key, mapping in fields.items():
            pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
            pipe.expire(key, self.ttl_s)
        raised = not self._force_mark and mark is not None
        lost = {"after_log_offset": None, "before_log_offset": self.written}
        if self._force_mark and mark is not None:
            pipe.hdel(progress, "rebuilt")
            pipe.hset(progress, "log_offset", str(mark))
        elif mark is not None:
            was = b"" if self.written is None else orjson.dumps(lost)
            pipe.eval(_RAISE_MARK, 1, progress, str(mark), was)
        clearing = self._clear_missing
        if clearing or (self._force_mark and self.missing is None):
            pipe.hdel(progress, "missing")
        elif self.missing is not None:
            pipe.hset(progress, "missing", orjson.dumps(self.missing))
        answers = await pipe.execute()
        self._force_mark = self._force_mark and mark is None
        if clearing:
            self._clear_missing = False
            if self.missing is not None:
                log.warning("redis read model: the gap is filled from the output topics")
            self.missing = None
        elif raised and self.missing is None and answers[-1] == 1:  # the eval was the last call
            self.missing = lost
            log.error(
                "redis read model: Redis no longer holds what this worker wrote up to engine log "
                "offset %s (restarted without persistence?); the verdicts are on Kafka: the "
                "worker reads them back to fill it",
                self.written,
            )
            self._gap_found()
        if mark is not None:
            self.written = mark

    async def _check(self, recovery: Recovery) -> None:
        """Whether Redis held every output before the replay's start; a gap if not."""
        found = await self.client.hgetall(progress_key(self.prefix))
        held = {_text(k): v for k, v in found.items()}
        if recovery.replayed_from is None:  # every output ever committed was re-derived
            self.missing, self._force_mark = None, True
            return
        if "missing" in held:  # an earlier gap, not filled since
            self.missing = orjson.loads(held["missing"])
            self._gap_found()
            return
        if "rebuilt" in held:  # rebuild-read-model wrote every committed output
            self._force_mark = True
            return
        written = int(held["log_offset"]) if "log_offset" in held else None
        if written is not None and written >= recovery.replayed_from:
            return
        self.missing = {"after_log_offset": written, "before_log_offset": recovery.replayed_from}
        log.error(
            "redis read model: the outputs committed %s and before engine log offset %d may be "
            "missing from Redis (a worker stopped before it could write them, or Redis lost "
            "them); the verdicts are on Kafka: the worker reads them back to fill it",
            "from the start" if written is None else f"after engine log offset {written}",
            recovery.replayed_from,
        )
        self._gap_found()

    async def mark_rebuilt(self) -> None:
        """Record that every committed output was just written (``rebuild-read-model``)."""
        progress = progress_key(self.prefix)
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(progress)
        pipe.hset(progress, "rebuilt", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        await pipe.execute()

    def _restage(self, fields: dict[str, dict[str, bytes]]) -> None:
        """Put a failed write's fields back, each under the value staged since, if any."""
        staged = self._staged
        for key, mapping in fields.items():
            newer = staged.get(key)
            staged[key] = mapping if newer is None else {**mapping, **newer}

    def _failed(self, exc: Exception, delay: float) -> None:
        self.failed_writes += 1
        if self.failing_since is None:  # one line per outage, not per attempt
            self.failing_since = time.monotonic()
            log.warning(
                "redis read model: a write failed (%s); %d keys are kept and tried again "
                "every %g-%gs until Redis answers (verdicts are on Kafka regardless)",
                describe(exc),
                len(self._staged),
                delay,
                self.retry_max_s,
            )

    async def read(self, subject: str) -> dict[str, Any]:
        """Everything known about a shop or item id."""
        return await read_subject(self.client, self.prefix, subject)

    async def close(self) -> None:
        """Stop writing, and close the connection pool."""
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
        await self.client.aclose()


def _text(field: bytes | str) -> str:
    """A hash field's name: bytes from a client without ``decode_responses``."""
    return field.decode() if isinstance(field, bytes) else field


async def read_subject(client: aioredis.Redis, prefix: str, subject: str) -> dict[str, Any]:
    """``{"item": {...}, "shop": {...}}`` for an id, decoded; empty parts left out."""
    out: dict[str, Any] = {"subject": subject}
    for kind, key in (("item", item_key(prefix, subject)), ("shop", shop_key(prefix, subject))):
        fields = await client.hgetall(key)
        if fields:
            out[kind] = {_text(k): orjson.loads(v) for k, v in sorted(fields.items())}
    return out


def read_subject_sync(url: str, prefix: str, subject: str) -> tuple[dict[str, Any], Any]:
    """The same, for the ``status`` command; and the log offsets whose outputs the read model
    may lack (``missing`` of its progress, ``None`` if none)."""
    client = redis.Redis.from_url(url, **_auth())
    out: dict[str, Any] = {"subject": subject}
    for kind, key in (("item", item_key(prefix, subject)), ("shop", shop_key(prefix, subject))):
        fields = client.hgetall(key)
        if fields:
            out[kind] = {_text(k): orjson.loads(v) for k, v in sorted(fields.items())}
    missing = client.hget(progress_key(prefix), "missing")
    client.close()
    return out, None if missing is None else orjson.loads(missing)

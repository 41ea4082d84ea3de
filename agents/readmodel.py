"""Redis read model: current figures and latest verdicts per shop and item.

Key layout (``P`` = topic prefix), every key expiring ``ttl`` after its last write (60 days):

- ``sellerwatch:P:item:<item_id>``: hash; ``verdict:<rule>`` = the item's latest verdict of that
  rule (JSON), ``figures:<rule>`` = its latest evaluation (period, numerator, denominator, verdict).
- ``sellerwatch:P:shop:<shop_id>``: hash; the same for shop rules (``same_day_ship``), plus
  ``item_verdict:<kind>`` = the latest verdict of that kind about any of the shop's items.

The password comes from ``SELLERWATCH_REDIS_PASSWORD(_FILE)``, not from the URL, so that it
is on no command line and in no ConfigMap (a password in the URL still works).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis

from sellerwatch.agents.settings import redis_password
from sellerwatch.schemas.verdict import Evaluation, Verdict, encode

log = logging.getLogger(__name__)
TTL_S = 60 * 86_400
SHOP_RULES = frozenset({"same_day_ship", "campaign_fulfilment"})
#: Rules whose figures are per (subject, period): one field per period, not the latest only.
PERIOD_RULES = frozenset({"campaign_fulfilment"})


def _auth() -> dict[str, str]:
    """The ``password`` keyword for ``from_url`` when one is set (the URL's own otherwise)."""
    password = redis_password()
    return {"password": password} if password else {}


def item_key(prefix: str, item_id: str) -> str:
    """Hash of one item."""
    return f"sellerwatch:{prefix}:item:{item_id}"


def shop_key(prefix: str, shop_id: str) -> str:
    """Hash of one shop."""
    return f"sellerwatch:{prefix}:shop:{shop_id}"


class ReadModel:
    """Writes the worker's outputs into Redis (idempotent: latest value wins).

    Writes are coalesced: while one is in flight, later batches merge into the next one, so a
    subject evaluated every day of a catch-up is written once per write, not once per day.
    """

    def __init__(self, url: str, prefix: str = "", ttl_s: int = TTL_S) -> None:
        """Connect lazily to ``url``."""
        self.client = aioredis.from_url(url, **_auth())
        self.prefix = prefix
        self.ttl_s = ttl_s
        self._staged: dict[str, dict[str, bytes]] = {}
        self._writer: asyncio.Task[None] | None = None

    def submit(self, verdicts: list[Verdict], evaluations: list[Evaluation]) -> None:
        """Stage a committed batch's outputs; a background write picks them up."""
        self._stage(verdicts, evaluations)
        if self._staged and (self._writer is None or self._writer.done()):
            self._writer = asyncio.ensure_future(self._write_staged())

    async def flushed(self) -> None:
        """Wait until everything submitted so far is written."""
        while self._writer is not None and not self._writer.done():
            await self._writer

    def _stage(self, verdicts: list[Verdict], evaluations: list[Evaluation]) -> None:
        staged = self._staged
        for verdict in verdicts:
            body = encode(verdict)
            if verdict.item_id is None:
                key = shop_key(self.prefix, verdict.shop_id)
                staged.setdefault(key, {})[f"verdict:{verdict.rule}"] = body
            else:
                key = item_key(self.prefix, verdict.item_id)
                staged.setdefault(key, {})[f"verdict:{verdict.rule}"] = body
                shop = shop_key(self.prefix, verdict.shop_id)
                staged.setdefault(shop, {})[f"item_verdict:{verdict.kind}"] = body
                if verdict.rule in PERIOD_RULES:  # every breach of the shop, by campaign
                    order = verdict.details.get("order_id", verdict.item_id)
                    staged[shop][f"breach:{verdict.period}:{order}"] = body
        for evaluation in evaluations:  # in order: a later evaluation's figures win
            make_key = shop_key if evaluation.rule in SHOP_RULES else item_key
            key = make_key(self.prefix, evaluation.subject)
            field = f"figures:{evaluation.rule}"
            if evaluation.rule in PERIOD_RULES:
                field += f":{evaluation.period}"
            staged.setdefault(key, {})[field] = encode(evaluation)

    async def _write_staged(self) -> None:
        """One HSET and one EXPIRE per key staged, until nothing is staged."""
        while self._staged:
            fields, self._staged = self._staged, {}
            pipe = self.client.pipeline(transaction=False)
            for key, mapping in fields.items():
                pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
                pipe.expire(key, self.ttl_s)
            try:
                await pipe.execute()
            except Exception:  # noqa: BLE001 - the read model must never stop the engine
                log.exception("redis read model write failed; verdicts are on Kafka regardless")

    async def read(self, subject: str) -> dict[str, Any]:
        """Everything known about a shop or item id."""
        return await read_subject(self.client, self.prefix, subject)

    async def close(self) -> None:
        """Close the connection pool."""
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


def read_subject_sync(url: str, prefix: str, subject: str) -> dict[str, Any]:
    """The same, for the ``status`` command."""
    client = redis.Redis.from_url(url, **_auth())
    out: dict[str, Any] = {"subject": subject}
    for kind, key in (("item", item_key(prefix, subject)), ("shop", shop_key(prefix, subject))):
        fields = client.hgetall(key)
        if fields:
            out[kind] = {_text(k): orjson.loads(v) for k, v in sorted(fields.items())}
    client.close()
    return out

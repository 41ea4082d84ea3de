"""Redis read model: current figures and latest verdicts per shop and item.

Key layout (``P`` = topic prefix), every key expiring ``ttl`` after its last write (60 days):

- ``sellerwatch:P:item:<item_id>``: hash; ``verdict:<rule>`` = the item's latest verdict of that
  rule (JSON), ``figures:<rule>`` = its latest evaluation (period, numerator, denominator, verdict).
- ``sellerwatch:P:shop:<shop_id>``: hash; the same for shop rules (``same_day_ship``), plus
  ``item_verdict:<kind>`` = the latest verdict of that kind about any of the shop's items.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis
import redis.asyncio as aioredis

from schemas.verdict import Evaluation, Verdict, encode

TTL_S = 60 * 86_400
SHOP_RULES = frozenset({"same_day_ship"})


def item_key(prefix: str, item_id: str) -> str:
    """Hash of one item."""
    return f"sellerwatch:{prefix}:item:{item_id}"


def shop_key(prefix: str, shop_id: str) -> str:
    """Hash of one shop."""
    return f"sellerwatch:{prefix}:shop:{shop_id}"


class ReadModel:
    """Writes the worker's outputs into Redis (idempotent: latest value wins)."""

    def __init__(self, url: str, prefix: str = "", ttl_s: int = TTL_S) -> None:
        """Connect lazily to ``url``."""
        self.client = aioredis.from_url(url)
        self.prefix = prefix
        self.ttl_s = ttl_s

    async def write(self, verdicts: list[Verdict], evaluations: list[Evaluation]) -> None:
        """Record a committed batch's verdicts and figures."""
        pipe = self.client.pipeline(transaction=False)
        touched: set[str] = set()
        for verdict in verdicts:
            body = encode(verdict)
            if verdict.item_id is None:
                key = shop_key(self.prefix, verdict.shop_id)
                pipe.hset(key, f"verdict:{verdict.rule}", body)
            else:
                key = item_key(self.prefix, verdict.item_id)
                pipe.hset(key, f"verdict:{verdict.rule}", body)
                shop = shop_key(self.prefix, verdict.shop_id)
                pipe.hset(shop, f"item_verdict:{verdict.kind}", body)
                touched.add(shop)
            touched.add(key)
        for evaluation in evaluations:
            make_key = shop_key if evaluation.rule in SHOP_RULES else item_key
            key = make_key(self.prefix, evaluation.subject)
            pipe.hset(key, f"figures:{evaluation.rule}", encode(evaluation))
            touched.add(key)
        for key in touched:
            pipe.expire(key, self.ttl_s)
        await pipe.execute()

    async def read(self, subject: str) -> dict[str, Any]:
        """Everything known about a shop or item id."""
        return await read_subject(self.client, self.prefix, subject)

    async def close(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()


async def read_subject(client: aioredis.Redis, prefix: str, subject: str) -> dict[str, Any]:
    """``{"item": {...}, "shop": {...}}`` for an id, decoded; empty parts left out."""
    out: dict[str, Any] = {"subject": subject}
    for kind, key in (("item", item_key(prefix, subject)), ("shop", shop_key(prefix, subject))):
        fields = await client.hgetall(key)
        if fields:
            out[kind] = {k.decode(): orjson.loads(v) for k, v in sorted(fields.items())}
    return out


def read_subject_sync(url: str, prefix: str, subject: str) -> dict[str, Any]:
    """The same, for the ``status`` command."""
    client = redis.Redis.from_url(url)
    out: dict[str, Any] = {"subject": subject}
    for kind, key in (("item", item_key(prefix, subject)), ("shop", shop_key(prefix, subject))):
        fields = client.hgetall(key)
        if fields:
            out[kind] = {k.decode(): orjson.loads(v) for k, v in sorted(fields.items())}  # type: ignore[union-attr]
    client.close()
    return out

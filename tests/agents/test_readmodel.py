"""The Redis read model (pure: no Redis): a shop's campaign breaches are all kept, and what
Redis could not take is written once it can (a real Redis going away:
``tests/integration/test_readmodel_outage.py``)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest

from sellerwatch.agents.readmodel import ReadModel, item_key, shop_key
from sellerwatch.schemas.verdict import Evaluation, Verdict


def _breach(order_id: str) -> Verdict:
    return Verdict(
        verdict_id=f"campaign_fulfilment:breach:{order_id}:618-2022",
        kind="breach",
        rule="campaign_fulfilment",
        shop_id="S1",
        item_id="I1",
        period="618-2022",
        decided_at=1654099200000,
        window_start="2022-05-31",
        window_end="2022-06-20",
        numerator=0,
        denominator=1,
        rate=0.0,
        threshold=1.0,
        amount_cents=0,
        policy="618-2022",
        details={"order_id": order_id, "reason": "not_shipped_in_time"},
    )


def test_every_breach_of_a_shop_is_staged_under_the_shop_with_per_campaign_figures() -> None:
    model = ReadModel("redis://localhost:1/0", "p.")  # connects lazily: never here
    figures = Evaluation("campaign_fulfilment", "S1", "618-2022", 1654099200000, 3, 5, None)
    model._stage([_breach("O1"), _breach("O2")], [figures])  # noqa: SLF001 - the pure half
    shop = model._staged[shop_key("p.", "S1")]  # noqa: SLF001
    assert {k for k in shop if k.startswith("breach:")} == {
        "breach:618-2022:O1",
        "breach:618-2022:O2",
    }
    assert orjson.loads(shop["figures:campaign_fulfilment:618-2022"])["numerator"] == 3


class _FlakyRedis:
    """A client whose first ``fail`` writes raise, as a Redis that is down; then it keeps
    what it is given."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.data: dict[str, dict[str, bytes]] = {}

    def pipeline(self, transaction: bool) -> _FlakyRedis._Pipe:  # noqa: ARG002 - redis-py's
        return _FlakyRedis._Pipe(self)

    class _Pipe:
        def __init__(self, redis: _FlakyRedis) -> None:
            self.redis, self.sets = redis, []

        def hset(self, key: str, mapping: dict[str, bytes]) -> None:
            self.sets.append((key, mapping))

        def expire(self, key: str, seconds: int) -> None:
            pass

        async def execute(self) -> None:
            await asyncio.sleep(0)
            if self.redis.fail > 0:
                self.redis.fail -= 1
                raise ConnectionError("Error 111 connecting to localhost:6379. Connection refused.")
            for key, mapping in self.sets:
                self.redis.data.setdefault(key, {}).update(mapping)


def _figures(subject: str, numerator: int) -> Evaluation:
    return Evaluation("pickup48", subject, "2024-06-04", 1717430400000, numerator, 10, None)


async def test_updates_made_while_redis_is_down_are_written_once_it_answers_newest_first(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A Redis restart loses no update of the read model, and an older value never overwrites
    a newer one."""
    model = ReadModel("redis://localhost:1/0", "p.", retry_first_s=0.01, retry_max_s=0.02)
    flaky = _FlakyRedis(fail=3)
    model.client = flaky  # type: ignore[assignment]
    with caplog.at_level(logging.WARNING):
        model.submit([], [_figures("I1", 1), _figures("I2", 5)])
        await asyncio.sleep(0.005)  # the first write fails; I1 changes meanwhile
        model.submit([], [_figures("I1", 2)])
        assert model.keys_waiting == 2 and model.stats()["failing_for_s"] is not None
        assert await model.flushed(5)
    item = flaky.data[item_key("p.", "I1")]
    assert orjson.loads(item["figures:pickup48"])["numerator"] == 2
    assert orjson.loads(flaky.data[item_key("p.", "I2")]["figures:pickup48"])["numerator"] == 5
    assert model.stats() == {
        "keys_waiting": 0,
        "failed_writes": 3,
        "failing_for_s": None,
        "missing": None,
    }
    outage = [r.getMessage() for r in caplog.records if "redis read model" in r.getMessage()]
    assert len(outage) == 2  # one line when it fails, one when it is written again
    assert "kept and tried again" in outage[0] and "written again" in outage[1]


async def test_a_stopping_worker_waits_a_bounded_time_for_a_redis_that_stays_down() -> None:
    model = ReadModel("redis://localhost:1/0", "p.", retry_first_s=0.01, retry_max_s=0.02)
    model.client = _FlakyRedis(fail=1_000_000)  # type: ignore[assignment]
    model.submit([], [_figures("I1", 1)])
    assert not await model.flushed(0.2)
    assert model.keys_waiting == 1
    writer = model._writer  # noqa: SLF001 - closing must end the retries
    model.client = SimpleNamespace(aclose=_nothing)  # type: ignore[assignment]
    await model.close()
    await asyncio.sleep(0)
    assert writer is not None and writer.done()


async def _nothing() -> None:
    return None


@pytest.mark.parametrize("world", ["sample", "campaign"])
def test_the_latest_verdict_per_field_read_back_in_any_order_stages_what_the_worker_did(
    world: str, tmp_path: Path
) -> None:
    """``rebuild-read-model`` keeps, per field, only the verdict published last: its memory
    grows with the fields, not with a year of verdicts, and Redis ends the same."""
    from sellerwatch.agents.readmodel_rebuild import LatestVerdicts
    from tests.streams.test_remote import published_verdicts

    published = published_verdicts(world, tmp_path)
    worker = ReadModel("redis://localhost:1/0", "p.")
    worker._stage(published, [])  # noqa: SLF001 - the pure half
    latest = LatestVerdicts("p.")
    for verdict in sorted(published, key=lambda v: (v.topic, v.verdict_id)):  # topic by topic
        latest.add(verdict)
    kept = latest.in_published_order()
    assert latest.read == len(published) > len(kept)
    rebuilt = ReadModel("redis://localhost:1/0", "p.")
    rebuilt._stage(kept, [])  # noqa: SLF001
    assert rebuilt._staged == worker._staged  # noqa: SLF001

"""The session's clean-up deletes its own topics on the shared broker and nobody else's."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]

from tests.integration.conftest import BOOTSTRAP, wait_for
from tests.integration.topics import delete_prefixed

pytestmark = pytest.mark.integration


async def _create(names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(n, num_partitions=1, replication_factor=1) for n in names]
        )
    finally:
        await admin.close()


async def _names() -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


def test_delete_prefixed_removes_only_the_prefixes_topics(services: None) -> None:
    tag = uuid.uuid4().hex[:8]
    mine, other = f"tp{tag}.", f"tq{tag}."
    asyncio.run(_create([f"{mine}payments", f"{mine}verdicts.tag", f"{other}payments"]))
    try:
        assert asyncio.run(delete_prefixed([mine], BOOTSTRAP)) == 2
        # the broker's metadata follows the controller's deletion within moments
        wait_for(
            lambda: {n for n in asyncio.run(_names()) if tag in n} == {f"{other}payments"},
            10,
            "only the other prefix's topic left",
        )
    finally:
        asyncio.run(delete_prefixed([mine, other], BOOTSTRAP))

"""``rebuild-read-model`` reading the topics, with a stand-in consumer: a partition that stops
moving (a broker gone mid-read) ends the command with a reason instead of hanging it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sellerwatch.agents import readmodel_rebuild
from sellerwatch.agents.reset import ResetError


class _StuckConsumer:
    """Its end offset is 10; it reads 3 records, then nothing more ever comes."""

    def __init__(self) -> None:
        self.offset = 0

    def assign(self, partitions: list[Any]) -> None:
        pass

    async def seek_to_beginning(self, *partitions: Any) -> None:
        pass

    async def end_offsets(self, partitions: list[Any]) -> dict[Any, int]:
        return dict.fromkeys(partitions, 10)

    async def position(self, tp: Any) -> int:
        return self.offset

    async def getmany(self, tp: Any, timeout_ms: int, max_records: int) -> dict[Any, list[Any]]:
        await asyncio.sleep(0.01)
        if self.offset >= 3:
            return {}
        self.offset += 1
        return {tp: [type("Record", (), {"value": b"{}"})()]}


def test_a_partition_that_stops_moving_ends_the_rebuild_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(readmodel_rebuild, "STALL_S", 0.2)

    async def read() -> list[Any]:
        got = []
        async for _, values in readmodel_rebuild._batches(  # noqa: SLF001
            _StuckConsumer(),  # type: ignore[arg-type]
            {"p.verdicts.tag": {0}},
        ):
            got += values
        return got

    with pytest.raises(ResetError, match=r"p.verdicts.tag\[0\] has not moved past offset 3"):
        asyncio.run(read())

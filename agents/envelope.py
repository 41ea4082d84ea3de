"""Records of the engine log: the engine's decisions, and the ids they name inputs by.

The engine owner writes one *decision* record per transaction: in the order it applied them,
the input offset ranges (``EVENT``) and the markers saying an input partition went idle (live,
``IDLE``) or was read to its end (backtest, ``EOF``). Everything that decides the engine's
watermark is in the log, so a new owner that replays the decisions rebuilds exactly the state
the old one had (:mod:`agents.direct`).
"""

from __future__ import annotations

EVENT, IDLE, EOF = b"event", b"idle", b"eof"
#: One record per engine transaction, saying which input records it applied.
DECISION = b"decision"
DECISION_HEADERS = [("sw-kind", DECISION)]


def source_id(topic: str, partition: int) -> str:
    """The engine's id of an input partition."""
    return f"{topic}:{partition}"

"""Blobs larger than a Kafka record may be: split into frames, joined back by the reader.

The partition log and the answers carry a batch of messages or an answer per record, and a
busy instant's answer (evidence of a shop's week with thousands of orders) or a large input
batch can pass the broker's ``message.max.bytes`` (1 MiB by default). A blob is therefore
sent as consecutive frames of at most :data:`FRAME_BYTES`, each with a header ``sw-frame:
k/n``; every frame of a blob is in one transaction. Frames of different senders may
interleave on one partition (the answers), so the reader joins them per sender key.
"""

from __future__ import annotations

FRAME_BYTES = 900_000
FRAME = "sw-frame"


def frames(blob: bytes, limit: int = FRAME_BYTES) -> list[tuple[bytes, list[tuple[str, bytes]]]]:
    """``blob`` as ``(value, headers)`` frames in order."""
    parts = [blob[i : i + limit] for i in range(0, len(blob), limit)] or [b""]
    count = len(parts)
    return [(part, [(FRAME, f"{k}/{count}".encode())]) for k, part in enumerate(parts, 1)]


class Joiner:
    """Joins frames back into blobs, per sender."""

    def __init__(self) -> None:
        self.partial: dict[object, list[bytes]] = {}

    def add(self, sender: object, value: bytes, headers: list[tuple[str, bytes]]) -> bytes | None:
        """The whole blob once its last frame is added; ``None`` before."""
        frame = dict(headers).get(FRAME)
        if frame is None:
            return value
        k, n = (int(x) for x in frame.split(b"/"))
        parts = self.partial.setdefault(sender, [])
        if len(parts) != k - 1:
            raise ValueError(f"frame {k}/{n} of {sender!r} after {len(parts)} frames")
        parts.append(value)
        if k < n:
            return None
        del self.partial[sender]
        return b"".join(parts)

    def waiting(self, sender: object) -> bool:
        """Whether a blob of ``sender`` is part-way."""
        return sender in self.partial

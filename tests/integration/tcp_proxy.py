"""A TCP proxy that cuts and stalls connections at random (seeded): network faults on demand.

It listens on 127.0.0.1 only and forwards every connection to ``127.0.0.1:target_port``. While
``faulting``, every 0.2-1.2 s a chaos loop cuts a live connection (RST), stalls one (stops
forwarding, both ways, for 1-``max_stall_s`` s) or stalls them all (a short partition), and a
large client write (a batch of outputs or a snapshot chunk) is cut half-way now and then: faults
land inside transactions and snapshots, not only between them. The proxy runs its own event
loop in a thread, so a synchronous test can drive it.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field

CHUNK = 64 * 1024
#: A client write at least this large is a big produce request (outputs or a snapshot chunk).
BIG_WRITE = 32 * 1024


@dataclass(eq=False)  # hashed by identity: a set of live connections
class _Link:
    """One proxied connection: the client's socket and the broker's."""

    writers: tuple[asyncio.StreamWriter, asyncio.StreamWriter]
    flowing: asyncio.Event = field(default_factory=asyncio.Event)

    def cut(self) -> None:
        for writer in self.writers:
            with suppress(Exception):
                writer.transport.abort()


class FaultyProxy:
    """The proxy itself (in the running event loop)."""

    def __init__(self, target_port: int, seed: int, *, max_stall_s: float = 8.0) -> None:
        """Forward to ``target_port``; ``seed`` decides every fault."""
        self.target_port = target_port
        self.rng = random.Random(seed)
        self.max_stall_s = max_stall_s
        self.faulting = True
        #: Refuse every connection (a broker that is gone for good).
        self.refusing = False
        self.links: set[_Link] = set()
        #: Cleared during a network partition: no connection forwards, new ones included.
        self.open = asyncio.Event()
        self.open.set()
        #: What was done: ``connections``, ``cuts``, ``stalls``, ``cuts_mid_write``.
        self.counts: Counter[str] = Counter()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._chaos: asyncio.Task[None] | None = None

    async def start(self, port: int = 0) -> int:
        """Listen on ``127.0.0.1:port`` (0: any free port); the port."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._chaos = asyncio.create_task(self._chaos_loop())
        return self.port

    async def stop(self) -> None:
        """Close the listener and every connection."""
        if self._chaos is not None:
            self._chaos.cancel()
        if self._server is not None:
            self._server.close()
        for link in list(self.links):
            link.cut()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        link = _Link((writer, up_writer))
        link.flowing.set()
        self.links.add(link)
        self.counts["connections"] += 1
        try:
            await asyncio.gather(
                self._pump(link, reader, up_writer, upstream=True),
                self._pump(link, up_reader, writer, upstream=False),
            )
        finally:
            self.links.discard(link)
            link.cut()

    async def _pump(
        self,
        link: _Link,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        upstream: bool,
    ) -> None:
        try:
            while data := await reader.read(CHUNK):
                await link.flowing.wait()
                await self.open.wait()
                if (
                    self.faulting
                    and upstream
                    and len(data) >= BIG_WRITE
                    and self.rng.random() < 0.03
                ):
                    writer.write(data[: len(data) // 2])  # half a request, then nothing
                    self.counts["cuts_mid_write"] += 1
                    link.cut()
                    return
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            link.cut()

    async def _chaos_loop(self) -> None:
        while True:
            await asyncio.sleep(self.rng.uniform(0.2, 1.2))
            if not self.faulting or not self.links:
                continue
            links = sorted(self.links, key=id)
            roll = self.rng.random()
            if roll < 0.4:
                self.counts["cuts"] += 1
                self.rng.choice(links).cut()
                continue
            # a stall of one connection, or of all of them (a short network partition)
            stalled = links if roll > 0.8 else [self.rng.choice(links)]
            self.counts["stalls"] += len(stalled)
            seconds = self.rng.uniform(1.0, self.max_stall_s)
            for link in stalled:
                link.flowing.clear()
                asyncio.get_running_loop().call_later(seconds, link.flowing.set)

    def partition(self, seconds: float) -> None:
        """No connection forwards for ``seconds``, not even one opened meanwhile.

        Stalling only the live links is not a partition: a random cut makes the client
        reconnect over a fresh link that flows, and the engine never meets its deadline.
        """
        self.counts["stalls"] += max(len(self.links), 1)
        self.open.clear()
        asyncio.get_running_loop().call_later(seconds, self.open.set)

    def calm(self) -> None:
        """No more faults; stalled connections flow again."""
        self.faulting = False
        self.open.set()
        for link in self.links:
            link.flowing.set()


class ProxyThread:
    """A :class:`FaultyProxy` on its own event loop in a daemon thread."""

    def __init__(self, target_port: int, seed: int, *, max_stall_s: float = 8.0) -> None:
        """A proxy to ``target_port``, not started yet."""
        self.proxy = FaultyProxy(target_port, seed, max_stall_s=max_stall_s)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> int:
        """Start listening; the port."""
        self.thread.start()
        return asyncio.run_coroutine_threadsafe(self.proxy.start(), self.loop).result(10)

    def set_faulting(self, on: bool) -> None:
        """Start (``True``) or end the faults."""
        if on:
            self.loop.call_soon_threadsafe(setattr, self.proxy, "faulting", True)
        else:
            self.loop.call_soon_threadsafe(self.proxy.calm)

    def stall_all(self, seconds: float) -> None:
        """Stop forwarding on every connection for ``seconds`` (a network partition)."""
        self.loop.call_soon_threadsafe(self.proxy.partition, seconds)

    def set_refusing(self, on: bool) -> None:
        """Cut every connection and refuse new ones (``True``), or accept them again."""

        def apply() -> None:
            self.proxy.refusing = on
            for link in list(self.proxy.links) if on else ():
                link.cut()

        self.loop.call_soon_threadsafe(apply)

    def counts(self) -> Counter[str]:
        """What the proxy has done so far."""
        return Counter(self.proxy.counts)

    def stop(self) -> None:
        """Close everything and end the thread."""
        asyncio.run_coroutine_threadsafe(self.proxy.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()

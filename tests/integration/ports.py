"""Ports for the brokers and servers a test starts itself.

A port the kernel hands out for ``bind(0)`` comes from its ephemeral range, the same range it
takes the local ports of outgoing connections from. Between a test choosing such a port and
Kafka binding it, any client (the suite opens thousands of connections) can take it, and the
broker dies with "Address already in use" — which failed a fresh-clone CI run. So the ports
come from below that range, where only explicit listeners bind, and each is checked by binding
it, not by connecting to it (a port that is the local end of a connection refuses a connect but
cannot be bound).
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_LOWEST = 20_000


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def bindable(port: int) -> bool:
    """Whether a listener could bind ``port`` on the loopback address now."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int = 1, *, consecutive: bool = False) -> list[int]:
    """``count`` ports below the ephemeral range that nothing holds now (``consecutive``: a
    block ``base … base + count - 1``, as ``deploy/local/up.sh`` takes)."""
    top = max(_LOWEST + 1_000, _ephemeral_start()) - count
    chosen: list[int] = []
    for _ in range(500):
        if consecutive:
            base = random.randrange(_LOWEST, top)  # noqa: S311 - not for secrets
            block = list(range(base, base + count))
            if all(bindable(port) for port in block):
                return block
            continue
        port = random.randrange(_LOWEST, top)  # noqa: S311 - not for secrets
        if port not in chosen and bindable(port):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise RuntimeError(f"no {count} free ports below {top + count}")


def free_port() -> int:
    """One port as :func:`free_ports` chooses them."""
    return free_ports(1)[0]

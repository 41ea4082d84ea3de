"""The ports tests give their own brokers: below the ephemeral range, and bindable."""

from __future__ import annotations

import socket

from tests.integration.ports import _ephemeral_start, bindable, free_ports


def test_ports_come_from_below_the_range_outgoing_connections_take() -> None:
    block = free_ports(3, consecutive=True)
    assert block == list(range(block[0], block[0] + 3))
    assert all(20_000 <= port < _ephemeral_start() for port in block)
    assert all(bindable(port) for port in block)
    assert len(set(free_ports(5))) == 5


def test_a_port_held_by_a_socket_is_not_bindable() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", free_ports(1)[0]))
        assert not bindable(held.getsockname()[1])

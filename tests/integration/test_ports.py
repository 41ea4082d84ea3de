"""What the tests give their own brokers: ports below the ephemeral range and bindable, and
cluster ids the storage tool accepts."""

from __future__ import annotations

import socket
import uuid

import pytest

from tests.integration.own_broker import kraft_cluster_id
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


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first random id would read ``-…`` (bytes 0xF8…): the storage tool takes it for an
    option and the test's own broker does not start."""
    draws = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x01" * 16)])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(draws))
    assert kraft_cluster_id() == "AQEBAQEBAQEBAQEBAQEBAQ"

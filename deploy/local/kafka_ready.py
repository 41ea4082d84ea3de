"""Exit 0 when a Kafka broker on localhost answers a Metadata request.

Used by up.sh as its readiness probe. Standard library only, so it works
before aiokafka is installed. Usage: python3 kafka_ready.py PORT
"""

from __future__ import annotations

import socket
import struct
import sys

API_METADATA = 3
API_VERSION = 1  # v1: an empty topic list means "no topics", brokers only.


def _request(correlation_id: int) -> bytes:
    client_id = b"sellerwatch-up"
    header = struct.pack(">hhih", API_METADATA, API_VERSION, correlation_id, len(client_id))
    body = struct.pack(">i", 0)  # topics: empty array
    payload = header + client_id + body
    return struct.pack(">i", len(payload)) + payload


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf += chunk
    return buf


def broker_ports(port: int, timeout: float = 3.0) -> list[int]:
    """Return the ports of the brokers listed in the metadata response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(_request(correlation_id=1))
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        data = _recv_exact(sock, size)
    (correlation_id, n_brokers) = struct.unpack_from(">ii", data, 0)
    if correlation_id != 1:
        raise ValueError(f"unexpected correlation id {correlation_id}")
    offset = 8
    ports: list[int] = []
    for _ in range(n_brokers):
        _node_id, host_len = struct.unpack_from(">ih", data, offset)
        offset += 6 + host_len
        (broker_port, rack_len) = struct.unpack_from(">ih", data, offset)
        offset += 6 + max(rack_len, 0)
        ports.append(broker_port)
    return ports


def main(argv: list[str]) -> int:
    port = int(argv[1]) if len(argv) > 1 else 9092
    try:
        ports = broker_ports(port)
    except (OSError, ValueError, struct.error) as exc:
        print(f"not ready: {exc}", file=sys.stderr)
        return 1
    if port not in ports:
        print(f"not ready: metadata lists broker ports {ports}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""How every Kafka client of the project connects: plaintext, or SASL and/or TLS.

One function, :func:`client_options`, gives the keyword arguments that every aiokafka client
(consumer, producer, admin) takes for its security settings, read from ``SELLERWATCH_KAFKA_*``
environment variables (secrets from the environment or a file, never from argv).
"""

from __future__ import annotations

from typing import Any


def client_options() -> dict[str, Any]:
    """Keyword arguments for ``AIOKafkaConsumer/Producer/AdminClient`` (plaintext for now)."""
    return {}

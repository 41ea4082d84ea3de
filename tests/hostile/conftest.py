"""The real-broker fixtures of the integration tests, for the corpus's Kafka run."""

from tests.integration.conftest import prefix, services  # noqa: F401

"""The real-broker fixtures of the integration tests, for the corpus's Kafka run."""

from tests.integration.conftest import new_prefix, prefix, services, used_prefixes  # noqa: F401

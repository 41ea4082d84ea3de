"""How every Kafka client of the project connects: plaintext, or SASL and/or TLS.

One function, :func:`client_options`, gives the keyword arguments that every aiokafka client
(consumer, producer, admin) takes for its security settings, read from ``SELLERWATCH_KAFKA_*``
environment variables (secrets from the environment or a file, never from argv):

==========================================  ===================================================
``SELLERWATCH_KAFKA_SECURITY_PROTOCOL``     ``PLAINTEXT`` (default), ``SSL``, ``SASL_PLAINTEXT``
                                            or ``SASL_SSL``
``SELLERWATCH_KAFKA_SASL_MECHANISM``        ``PLAIN``, ``SCRAM-SHA-256`` (default with SASL) or
                                            ``SCRAM-SHA-512``
``SELLERWATCH_KAFKA_USERNAME``              the SASL user
``SELLERWATCH_KAFKA_PASSWORD(_FILE)``       its password, or a file holding it
``SELLERWATCH_KAFKA_CA_FILE``               PEM CA bundle the broker's certificate is checked
                                            against (default: the system's)
``SELLERWATCH_KAFKA_CERT_FILE``/``_KEY_FILE``  a client certificate and key (mutual TLS)
``SELLERWATCH_KAFKA_KEY_PASSWORD(_FILE)``   the key's passphrase, if it has one
==========================================  ===================================================

Faust's own clients take the same settings as ``broker_credentials`` (:func:`faust_credentials`).
"""

from __future__ import annotations

import logging
import os
import ssl
from contextlib import suppress
from typing import Any

from sellerwatch.agents.settings import SettingsError, secret

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_ENV = "SELLERWATCH_KAFKA_"


class KafkaAccessError(SettingsError):
    """The broker cannot be reached or refused our credentials (a one-line CLI error, exit 2)."""


def _get(name: str) -> str:
    return os.environ.get(_ENV + name, "").strip()


def _file(name: str) -> str | None:
    path = _get(name)
    if path and not os.path.isfile(path):
        raise SettingsError(f"{_ENV}{name}: no such file {path!r}")
    return path or None


def security_protocol() -> str:
    """The validated ``SELLERWATCH_KAFKA_SECURITY_PROTOCOL`` (``PLAINTEXT`` when unset)."""
    protocol = _get("SECURITY_PROTOCOL").upper() or "PLAINTEXT"
    if protocol not in PROTOCOLS:
        raise SettingsError(f"{_ENV}SECURITY_PROTOCOL is one of {PROTOCOLS}, not {protocol!r}")
    return protocol


def ssl_context() -> ssl.SSLContext:
    """A client TLS context: the CA file (or the system's), optionally a client certificate."""
    from aiokafka.helpers import create_ssl_context

    cert, key = _file("CERT_FILE"), _file("KEY_FILE")
    if (cert is None) != (key is None):
        raise SettingsError(f"set both {_ENV}CERT_FILE and {_ENV}KEY_FILE, or neither")
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=_file("CA_FILE"),
            certfile=cert,
            keyfile=key,
            password=secret(_ENV + "KEY_PASSWORD"),
        )
    except (ssl.SSLError, OSError) as exc:
        raise SettingsError(f"{_ENV}CA_FILE/CERT_FILE/KEY_FILE: {exc}") from None
    return context


def _sasl() -> dict[str, Any]:
    mechanism = _get("SASL_MECHANISM").upper() or "SCRAM-SHA-256"
    if mechanism not in MECHANISMS:
        raise SettingsError(f"{_ENV}SASL_MECHANISM is one of {MECHANISMS}, not {mechanism!r}")
    username, password = _get("USERNAME"), secret(_ENV + "PASSWORD")
    if not username or not password:
        raise SettingsError(
            f"SASL needs {_ENV}USERNAME and {_ENV}PASSWORD (or {_ENV}PASSWORD_FILE)"
        )
    return {
        "sasl_mechanism": mechanism,
        "sasl_plain_username": username,
        "sasl_plain_password": password,
    }


def client_options() -> dict[str, Any]:
    """Keyword arguments for ``AIOKafkaConsumer/Producer/AdminClient``; ``{}`` for plaintext.

    Raises :class:`SettingsError` (one line naming the variable) for anything unusable.
    """
    protocol = security_protocol()
    if protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol.endswith("SSL"):
        options["ssl_context"] = ssl_context()
    if protocol.startswith("SASL"):
        options.update(_sasl())
    return options


def faust_credentials() -> Any:
    """The same settings as Faust's ``broker_credentials`` (``None`` for plaintext)."""
    import faust

    options = client_options()
    if not options:
        return None
    if "sasl_mechanism" not in options:
        return faust.SSLCredentials(options["ssl_context"])
    return faust.SASLCredentials(
        username=options["sasl_plain_username"],
        password=options["sasl_plain_password"],
        ssl_context=options.get("ssl_context"),
        mechanism=options["sasl_mechanism"],
    )


def describe_access() -> str:
    """How we connect, for an error message (never the password)."""
    protocol = security_protocol()
    if protocol.startswith("SASL"):
        mechanism = _get("SASL_MECHANISM").upper() or "SCRAM-SHA-256"
        return f"{protocol} {mechanism} as {_get('USERNAME')!r}"
    return protocol


class _ConnectFailures(logging.Filter):
    """Keeps aiokafka's "Unable connect to ..." lines (they hold the cause) instead of logging."""

    def __init__(self) -> None:
        super().__init__()
        self.last: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.levelno >= logging.WARNING and message.startswith("Unable connect to"):
            self.last = message.partition(": ")[2] or message
            return False
        return True


def access_error(bootstrap: str, exc: BaseException, cause: str | None = None) -> KafkaAccessError:
    """The one line for a broker we cannot reach or that refused us."""
    text = cause or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return KafkaAccessError(
        f"cannot use Kafka at {bootstrap} ({describe_access()}): {text} "
        f"(check SELLERWATCH_BOOTSTRAP and {_ENV}*)"
    )


async def start_client(client: Any, bootstrap: str) -> None:
    """Start an aiokafka client; if it cannot connect, close it and raise :class:`KafkaAccessError`.

    aiokafka reports a refused SASL login or a failed TLS handshake as "Unable to bootstrap",
    after logging the real cause; the error carries that cause instead of the log.
    """
    from aiokafka.errors import KafkaError

    failures = _ConnectFailures()
    logger = logging.getLogger("aiokafka")  # aiokafka.client logs under this name
    logger.addFilter(failures)
    try:
        await client.start()
    except (KafkaError, OSError, ssl.SSLError) as exc:
        close = getattr(client, "stop", None) or client.close
        with suppress(Exception):
            await close()
        raise access_error(bootstrap, exc, failures.last) from None
    finally:
        logger.removeFilter(failures)

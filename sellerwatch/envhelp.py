"""The ``SELLERWATCH_*`` variables and their defaults, for ``sellerwatch --help`` (issue #12).

Read from :class:`agents.settings.Settings` itself, so the help cannot drift from the code:
each field's default factory is ``_env("NAME", "default")`` or ``_env_number(...)``, whose
constants are the variable's name and its default.
"""

from __future__ import annotations

import dataclasses
import re

_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def variables() -> list[tuple[str, str]]:
    """``(SELLERWATCH_NAME, default)`` of every worker setting read from the environment."""
    try:
        from sellerwatch.agents.settings import Settings
    except ImportError:  # the Kafka extras are not installed: nothing to list
        return []
    found: list[tuple[str, str]] = []
    for spec in dataclasses.fields(Settings):
        factory = spec.default_factory
        code = getattr(factory, "__code__", None)
        if code is None:
            continue
        strings = [c for c in code.co_consts if isinstance(c, str)]
        if not strings or not _NAME.match(strings[0]):
            continue
        default = strings[1] if len(strings) > 1 else "computed at start"
        found.append((f"SELLERWATCH_{strings[0]}", default))
    return found


def epilog() -> str:
    """The environment section of the top-level help."""
    rows = variables()
    security = "SELLERWATCH_KAFKA_*"
    width = max([len(security), *(len(name) for name, _ in rows)])
    lines = ["environment (worker and Kafka commands; defaults in brackets):"]
    for name, default in rows:
        lines.append(f"  {name.ljust(width)}  [{default if default else 'empty'}]")
    lines.append(f"  {security.ljust(width)}  Kafka security (SASL, TLS): see docs/operations.md")
    return "\n".join(lines)

"""Sub-commands beyond ``replay``: each lives in its own module and registers itself here."""

from __future__ import annotations

import argparse
import importlib

#: Modules that expose ``register(subparsers)``; a missing one is skipped.
_MODULES = (
    "sellerwatch.generator.cli",
    "sellerwatch.agents.cli",
    "sellerwatch.agents.reset",
    "sellerwatch.agents.readmodel_rebuild",
    "sellerwatch.compare_cli",
    "sellerwatch.explain",
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the other sub-commands to the parser."""
    for name in _MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue
            raise
        module.register(sub)

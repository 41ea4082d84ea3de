"""Sub-commands beyond ``replay``: registered here so the CLI module stays small."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the other sub-commands to the parser."""

"""The README documents every sub-command and every ``SELLERWATCH_*`` setting with the default
the code uses (issue #12), so a new user needs no other page to start."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from sellerwatch.cli import build_parser
from sellerwatch.envhelp import variables

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _settings_table() -> dict[str, str]:
    """``variable → default`` cell of the README's settings table."""
    rows: dict[str, str] = {}
    for line in README.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`SELLERWATCH_"):
            continue
        for name in re.findall(r"`(SELLERWATCH_[A-Z_]+)`", cells[0]):
            rows[name] = cells[1]
    return rows


def test_every_sub_command_is_in_the_readme() -> None:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command in sub.choices:
        assert f"sellerwatch {command}" in README, command


def test_every_setting_is_in_the_table_with_its_default() -> None:
    table = _settings_table()
    for name, default in variables():
        assert name in table, f"{name} is missing from the README's settings table"
        if default and default != "computed at start":
            assert f"`{default}`" in table[name], (
                f"{name}: README says {table[name]}, code {default}"
            )
        else:
            assert table[name], name


def test_the_security_and_secret_variables_are_in_the_table() -> None:
    table = _settings_table()
    for name in (
        "SELLERWATCH_KAFKA_SECURITY_PROTOCOL",
        "SELLERWATCH_KAFKA_SASL_MECHANISM",
        "SELLERWATCH_KAFKA_USERNAME",
        "SELLERWATCH_KAFKA_PASSWORD_FILE",
        "SELLERWATCH_REDIS_PASSWORD_FILE",
        "SELLERWATCH_WEB_TOKEN_FILE",
        "SELLERWATCH_INPUT_PARTITIONS",
    ):
        assert name in table, name


def test_the_two_commands_stay_at_the_top() -> None:
    first = README.index("## ")
    assert README[first:].startswith("## Two commands")

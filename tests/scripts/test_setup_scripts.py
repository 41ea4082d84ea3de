"""The newcomer's scripts install into the checkout's ``.venv``, never the system interpreter
(issue #12: Debian 12 and Ubuntu refuse ``pip install`` there, PEP 668)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "scripts").glob("*.sh"))
#: How a script may reach pip: through the venv's interpreter or its own pip.
VENV_PIP = re.compile(r'"\$(PY|VENV/bin/python)" -m pip |"\$VENV/bin/pip" ')
#: A Python interpreter found on PATH (the system's, before the venv exists).
BARE_PYTHON = re.compile(r"(?<![\w/$\"])(python3?(\.\d+)?)(?=\s)")


def _commands(script: Path) -> list[tuple[int, str]]:
    """Non-comment lines, numbered."""
    lines = script.read_text().splitlines()
    return [(n, line) for n, line in enumerate(lines, 1) if not line.lstrip().startswith("#")]


def test_there_are_scripts_to_check() -> None:
    assert {p.name for p in SCRIPTS} >= {"setup.sh", "demo.sh", "test.sh"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_pip_is_only_ever_the_venv_s(script: Path) -> None:
    for number, line in _commands(script):
        if re.search(r"\bpip3?\b", line):
            assert VENV_PIP.search(line), f"{script.name}:{number} uses pip outside .venv: {line}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_the_system_python_only_checks_and_creates_the_venv(script: Path) -> None:
    for number, line in _commands(script):
        for found in BARE_PYTHON.finditer(line):
            rest = line[found.end() :].lstrip()
            allowed = rest.startswith(("-m venv", "-c", "-V"))
            assert allowed, f"{script.name}:{number} runs the system {found.group(1)}: {line}"


def test_setup_creates_the_venv_in_the_checkout_and_installs_into_it() -> None:
    text = (ROOT / "scripts" / "setup.sh").read_text()
    assert 'VENV="${SELLERWATCH_VENV:-.venv}"' in text
    assert 'python3 -m venv "$VENV"' in text
    assert 'PY="$VENV/bin/python"' in text
    assert "\"$PY\" -m pip install -q --disable-pip-version-check -e '.[test,bench]'" in text


@pytest.mark.parametrize("name", ["demo.sh", "test.sh"])
def test_the_readme_commands_set_up_first_and_run_from_the_venv(name: str) -> None:
    text = (ROOT / "scripts" / name).read_text()
    assert "bash scripts/setup.sh" in text
    assert "$VENV/bin/" in text


def test_the_readme_shows_how_to_use_the_venv() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/demo.sh" in readme and "bash scripts/test.sh" in readme
    assert "source .venv/bin/activate" in readme or ".venv/bin/sellerwatch" in readme
    assert "python3 -m pip" not in readme and "sudo pip" not in readme

"""What ``pip install sellerwatch`` puts on a machine: one package, ``sellerwatch``, that runs.

The folders ``streams/``, ``agents/`` and ``schemas/`` are installed as ``sellerwatch.streams`` and
so on, so an install never shadows (or is shadowed by) another distribution's ``agents`` or
``schemas``. Checked on a real wheel, run from outside the checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "sample.jsonl.gz"
EXPECTED = ROOT / "examples" / "sample-verdicts.jsonl"


@pytest.fixture(scope="module")
def unpacked_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built as pip builds it, unpacked into a folder."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check"]
        + ["-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("sellerwatch-*.whl")
    target = out / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def _run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Python with only the unpacked wheel of ours on its path (the venv gives the deps)."""
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONSAFEPATH": "1"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_wheel_installs_one_top_level_package(unpacked_wheel: Path) -> None:
    top = {path.name for path in unpacked_wheel.iterdir() if not path.name.endswith(".dist-info")}
    assert top == {"sellerwatch"}
    package = unpacked_wheel / "sellerwatch"
    for part in ("streams/engine.py", "agents/app.py", "schemas/events.py"):
        assert (package / part).is_file(), part
    assert (package / "schemas" / "json" / "verdict.json").is_file()
    assert (package / "policies" / "default.toml").is_file()


def test_the_folders_are_not_importable_on_their_own(unpacked_wheel: Path, tmp_path: Path) -> None:
    probe = (
        "import importlib.util as u, sellerwatch.streams.engine as e; print(e.__file__); "
        "print([u.find_spec(n) is None for n in ('streams', 'agents', 'schemas')])"
    )
    result = _run(unpacked_wheel, tmp_path, "-c", probe)
    assert result.returncode == 0, result.stderr
    where, missing = result.stdout.splitlines()
    assert Path(where).is_relative_to(unpacked_wheel)  # the wheel's code, not the checkout's
    assert missing == "[True, True, True]"


def test_the_installed_replay_gives_the_shipped_verdicts(
    unpacked_wheel: Path, tmp_path: Path
) -> None:
    out = tmp_path / "verdicts.jsonl"
    result = _run(
        unpacked_wheel, tmp_path, "-m", "sellerwatch.cli", "replay", str(SAMPLE), "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == EXPECTED.read_bytes()

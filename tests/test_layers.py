"""The layers import one way: ``schemas`` <- ``streams`` <- drivers (``agents``, ``sellerwatch``).

All four are installed as the one package ``sellerwatch`` (``sellerwatch.streams`` and so on, the
folders linked under ``sellerwatch/``); a layer here is named by its folder.

The core (``streams``) is what replay, backtest and the live workers share, so it must not
reach into a driver, a broker client or the wall clock; ``schemas`` is what consumers read,
so it depends on nothing of ours. Checked on the source (every import, also the ones inside
functions), because a lazy import breaks the layering just as well as a top-level one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"schemas", "streams", "agents", "sellerwatch"}

# What each layer may import of ours, besides itself.
ALLOWED = {
    "schemas": set(),
    "streams": {"schemas"},
    "agents": {"schemas", "streams", "sellerwatch"},
    "sellerwatch": {"schemas", "streams", "agents"},
}
# Third-party and standard modules the core must never use: brokers, stores, clocks, I/O loops.
CORE_FORBIDDEN = {
    "aiokafka",
    "faust",
    "redis",
    "asyncio",
    "time",
    "random",
    "socket",
    "threading",
}
# Calls that read the wall clock, whatever module they came from.
WALL_CLOCK = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}


SUBPACKAGES = {"streams", "agents", "schemas"}


def _layer(module: str) -> str:
    """``sellerwatch.streams.engine`` -> ``streams``; ``sellerwatch.cli`` -> ``sellerwatch``;
    anything else -> its top-level name."""
    parts = module.split(".")
    if parts[0] == "sellerwatch" and len(parts) > 1 and parts[1] in SUBPACKAGES:
        return parts[1]
    return parts[0]


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, _layer(alias.name)) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, _layer(node.module)))
    return found


def _raw_imports(path: Path) -> list[tuple[int, str]]:
    """Every absolute import's top-level name, as Python resolves it."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def _sources(package: str) -> list[Path]:
    """The package's own files: ``sellerwatch/`` without the linked subpackages."""
    top = ROOT / package
    return sorted(
        path
        for path in top.rglob("*.py")
        if package != "sellerwatch" or path.relative_to(top).parts[0] not in SUBPACKAGES
    )


def _imports_of(package: str, names: set[str]) -> list[str]:
    """Where ``package``'s sources import one of ``names``."""
    return [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in _sources(package)
        for line, name in _imports(path)
        if name in names
    ]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_layer_imports_only_the_layers_below_it(package: str) -> None:
    refused = {name for name in OURS if name != package and name not in ALLOWED[package]}
    wrong = _imports_of(package, refused)
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("package", ["streams", "schemas"])
def test_the_core_uses_no_broker_store_or_clock(package: str) -> None:
    wrong = _imports_of(package, CORE_FORBIDDEN)
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("package", ["streams", "schemas"])
def test_the_core_never_reads_the_wall_clock(package: str) -> None:
    calls = [
        f"{path.relative_to(ROOT)}:{node.lineno} calls .{node.func.attr}()"
        for path in _sources(package)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in WALL_CLOCK
    ]
    assert not calls, "\n".join(calls)


def test_the_check_sees_a_wrong_import(tmp_path: Path) -> None:
    """The walker finds imports inside functions too (a lazy import is still an import)."""
    module = tmp_path / "lazy.py"
    module.write_text(
        "def f():\n    from sellerwatch.agents.app import create_app\n    import time\n"
    )
    assert _imports(module) == [(2, "agents"), (3, "time")]


@pytest.mark.parametrize("package", ["tests", "bench", "scripts", *sorted(OURS)])
def test_nothing_imports_a_folder_as_a_top_level_package(package: str) -> None:
    """Installed, only ``sellerwatch`` exists: ``import streams`` works in a checkout (its root
    on ``sys.path``) and nowhere else."""
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in _sources(package)
        for line, name in _raw_imports(path)
        if name in SUBPACKAGES
    ]
    assert not wrong, "\n".join(wrong)

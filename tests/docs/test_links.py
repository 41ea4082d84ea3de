"""The repository stands alone (issue #12): every relative Markdown link resolves to a file
inside it (and a ``#fragment`` to a heading there), and no page points outside the checkout."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

ROOT = Path(__file__).resolve().parents[2]
#: Folders that are not the project's own pages (environments, caches, build output).
SKIP = {".git", ".venv", "build", "out", "node_modules", ".pytest_cache", ".mypy_cache"}
PAGES = sorted(
    p
    for p in ROOT.rglob("*.md")
    if not SKIP.intersection(p.relative_to(ROOT).parts)
    and not any(part.endswith(".egg-info") for part in p.parts)
)
#: A path that leaves the checkout, in a link or in the text: ``../shared``, ``/work/...``.
OUTSIDE = re.compile(r"(?<![\w.])(\.\./shared\b|/work/)")
_PARSER = MarkdownIt("commonmark").enable("table")


def _walk(tokens: list[Token]) -> list[Token]:
    out: list[Token] = []
    for token in tokens:
        out.append(token)
        out += _walk(token.children or [])
    return out


def _links(page: Path) -> list[str]:
    """Targets of the page's links and images (code blocks and spans are not links)."""
    found = []
    for token in _walk(_PARSER.parse(page.read_text(encoding="utf-8"))):
        if token.type == "link_open":
            found.append(str(token.attrs["href"]))
        elif token.type == "image":
            found.append(str(token.attrs["src"]))
    return found


def _slug(text: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    kept = "".join(c for c in text.lower() if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    tokens = _PARSER.parse(page.read_text(encoding="utf-8"))
    anchors: set[str] = set()
    for opening, inline in zip(tokens, tokens[1:], strict=False):
        if opening.type != "heading_open":
            continue
        text = "".join(
            c.content for c in inline.children or [] if c.type in ("text", "code_inline")
        )
        slug, n = _slug(text), 1
        while slug in anchors:
            slug, n = f"{_slug(text)}-{n}", n + 1
        anchors.add(slug)
    return anchors


def test_there_are_pages_to_check() -> None:
    names = {str(p.relative_to(ROOT)) for p in PAGES}
    assert {"README.md", "docs/rules.md", "docs/decisions.md", "BENCHMARKS.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(page: Path) -> None:
    broken = []
    for target in _links(page):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc:
            continue  # a web address
        path = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        if not path.is_relative_to(ROOT):
            broken.append(f"{target}: outside the repository")
        elif not path.exists():
            broken.append(f"{target}: no such file")
        elif parts.fragment and path.suffix == ".md" and parts.fragment not in _anchors(path):
            broken.append(f"{target}: no heading #{parts.fragment} in {path.name}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_names_a_path_outside_the_checkout(page: Path) -> None:
    lines = page.read_text(encoding="utf-8").splitlines()
    outside = [f"{n}: {line.strip()}" for n, line in enumerate(lines, 1) if OUTSIDE.search(line)]
    assert not outside, f"{page.relative_to(ROOT)} points outside the repository:\n" + "\n".join(
        outside
    )


def test_the_readme_sends_readers_to_the_rules_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/rules.md" in _links(ROOT / "README.md")
    assert "SPEC.md" not in readme


def test_the_slugs_follow_github() -> None:
    assert (
        _slug("4.2 ship48_pickup24 (per subsidised item)")
        == "42-ship48_pickup24-per-subsidised-item"
    )
    assert _slug("1.1 The clock: watermark, evaluations, late records") == (
        "11-the-clock-watermark-evaluations-late-records"
    )

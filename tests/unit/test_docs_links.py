"""Every link in the docs, and every pointer to them from the rest of the project, leads
somewhere: a tracked file, and the section it names.

Links are read by markdown-it as GitHub renders them; a ``#section`` is a heading's anchor by
GitHub's rules. A pointer is a Markdown file's path in any other tracked file (a comment's
``see docs/configuration.md#database``), read from the repository's root.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import PurePosixPath
from urllib.parse import unquote

import pytest

from tests.docs import ROOT, anchors_of, github_anchors, headings_of, parse, tokens

# A path that ends in .md, not inside a longer path or URL, and its #section if any.
POINTER = re.compile(r"(?<![\w./-])((?:[\w.-]+/)*[\w.-]+\.md)(?:#([\w-]+))?")
# "see README" with no file name: a pointer nobody can follow once the text has moved.
NAMELESS = re.compile(r"\bREADME\b(?!\.md)")
THIS_FILE = "tests/unit/test_docs_links.py"  # it spells out the patterns above


@cache
def tracked() -> frozenset[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return frozenset(name for name in listed.stdout.split("\0") if name)


def tracked_text(name: str) -> str | None:
    """A tracked file's text; None for a picture or a file deleted but not yet committed."""
    try:
        return (ROOT / name).read_text()
    except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
        return None


def markdown_pages() -> list[str]:
    return sorted(name for name in tracked() if name.endswith(".md"))


def links(page: str) -> list[str]:
    """The target of every link and image of ``page``."""
    found: list[str] = []
    for block in tokens(page):
        for token in block.children or []:
            if token.type == "link_open":
                found.append(str(token.attrs["href"]))
            elif token.type == "image":
                found.append(str(token.attrs["src"]))
    return found


def broken(target: str, written_in: str, folder: str) -> str | None:
    """Why ``target``, written in ``written_in`` and relative to ``folder``, leads nowhere;
    None when it is fine."""
    if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
        return None
    path, _, section = target.partition("#")
    parts: list[str] = []
    for part in PurePosixPath(folder, unquote(path)).parts if path else [written_in]:
        if part == "..":
            if not parts:
                return "it leaves the repository"
            parts.pop()
        elif part != ".":
            parts.append(part)
    resolved = "/".join(parts)
    if not (resolved in tracked() or any(name.startswith(f"{resolved}/") for name in tracked())):
        return f"{resolved} is not a tracked file or folder"
    if section and section not in github_anchors(resolved):
        return f"{resolved} has no heading whose anchor is #{section}"
    return None


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Where is my telemetry? Troubleshooting", "where-is-my-telemetry-troubleshooting"),
        ("One order's trace", "one-orders-trace"),
        ("What to click, and what the trace shows", "what-to-click-and-what-the-trace-shows"),
        ("Load, benchmark and soak", "load-benchmark-and-soak"),
        ("`OTEL_*` and *emphasis*: kept_underscores", "otel_-and-emphasis-kept_underscores"),
        ("Weight", "weight"),
    ],
)
def test_an_anchor_follows_githubs_rules(heading: str, anchor: str) -> None:
    assert anchors_of(headings_of(parse(f"## {heading}\n"))) == {anchor}


def test_a_repeated_heading_gets_a_numbered_anchor() -> None:
    page = "# Tests\n\n## Weight\n\n```sh\n# not a heading\n```\n\n### Weight\n\n## Weight\n"
    assert anchors_of(headings_of(parse(page))) == {"tests", "weight", "weight-1", "weight-2"}


@pytest.mark.parametrize("page", markdown_pages())
def test_every_link_of_a_page_leads_somewhere(page: str) -> None:
    folder = str(PurePosixPath(page).parent)
    problems = [
        f"{target}: {why}" for target in links(page) if (why := broken(target, page, folder))
    ]
    assert not problems, f"{page}:\n" + "\n".join(problems)


def test_the_readme_links_every_docs_page() -> None:
    linked = {target.partition("#")[0] for target in links("README.md")}
    assert {page for page in markdown_pages() if page.startswith("docs/")} <= linked


def pointers() -> list[tuple[str, int, str]]:
    """Each pointer outside the Markdown files: (file, line number, path[#section])."""
    found: list[tuple[str, int, str]] = []
    for name in sorted(tracked()):
        text = None if name.endswith(".md") else tracked_text(name)
        for number, line in enumerate((text or "").splitlines(), 1):
            found += [(name, number, match[0]) for match in POINTER.finditer(line)]
    return found


def test_every_pointer_names_a_file_and_section_that_exist() -> None:
    found = pointers()
    problems = [
        f"{name}:{number}: {pointer}: {why}"
        for name, number, pointer in found
        if (why := broken(pointer, name, "."))
    ]
    assert not problems, "\n".join(problems)
    # the pointers are found at all: a comment's, with its section
    assert ("docker-compose.yml", "docs/deploying.md#weight") in {(n, p) for n, _, p in found}


def test_no_pointer_says_only_readme() -> None:
    nameless = [
        f"{name}:{number}: {line.strip()}"
        for name in sorted(tracked() - {THIS_FILE})
        if not name.endswith(".md")
        for number, line in enumerate((tracked_text(name) or "").splitlines(), 1)
        if NAMELESS.search(line)
    ]
    assert not nameless, "name the file (and section) instead:\n" + "\n".join(nameless)

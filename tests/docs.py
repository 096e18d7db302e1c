"""The project's Markdown as the tests read it: a page's sections, quotes, tables and headings.

A page is named by its path from the repository's root (``README.md``, ``docs/telemetry.md``).
markdown-it (CommonMark, with tables) finds the headings, so a ``#`` in a code block is never one.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import NamedTuple

from markdown_it import MarkdownIt
from markdown_it.token import Token

ROOT = Path(__file__).resolve().parents[1]
_MARKDOWN = MarkdownIt("commonmark").enable("table")


def parse(text: str) -> tuple[Token, ...]:
    return tuple(_MARKDOWN.parse(text))


class Heading(NamedTuple):
    level: int
    text: str  # as GitHub renders it: its words and code, without markup
    start: int  # the heading's line (from 0)
    end: int  # the line after it


@cache
def tokens(page: str) -> tuple[Token, ...]:
    """The page's block tokens (inline tokens carry their children)."""
    return parse((ROOT / page).read_text())


def _plain(inline: Token) -> str:
    return "".join(
        child.content for child in inline.children or [] if child.type in {"text", "code_inline"}
    )


def headings_of(blocks: tuple[Token, ...]) -> list[Heading]:
    return [
        Heading(int(token.tag[1]), _plain(blocks[i + 1]), *token.map)
        for i, token in enumerate(blocks)
        if token.type == "heading_open" and token.map is not None
    ]


def headings(page: str) -> list[Heading]:
    return headings_of(tokens(page))


def doc_section(page: str, heading: str) -> str:
    """The text under ``heading`` (written as in the page, ``"## Weight"``) up to the next
    heading of the same or a higher level."""
    marks, title = heading.split(" ", 1)
    level = len(marks)
    lines = (ROOT / page).read_text().splitlines(keepends=True)
    found = headings(page)
    for index, here in enumerate(found):
        if (here.level, here.text) == (level, title.replace("`", "")):
            following = (h.start for h in found[index + 1 :] if h.level <= level)
            return "".join(lines[here.end : next(following, len(lines))])
    raise AssertionError(f"{page} has no heading {heading!r}")


def doc_quote(page: str, heading: str, opening: str) -> str:
    """The block quote under ``heading`` that starts with ``opening``, as one line of the text
    it shows (emphasis and code marks dropped)."""
    lines = doc_section(page, heading).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"> {opening}"))
    quote: list[str] = []
    for line in lines[start:]:
        if not line.startswith(">"):
            break
        quote.append(line.removeprefix(">").strip())
    return " ".join(quote).replace("**", "").replace("`", "")


def first_code_block(page: str, heading: str) -> str:
    """The first fenced code block under ``heading``, without its fences."""
    block = next(t for t in parse(doc_section(page, heading)) if t.type == "fence")
    return block.content


def table_rows(text: str) -> list[list[str]]:
    """The body rows of every table in ``text`` (Markdown), each a list of its cells as
    written (code marks kept)."""
    rows: list[list[str]] = []
    in_body = False
    for token in parse(text):
        if token.type in {"tbody_open", "tbody_close"}:
            in_body = token.type == "tbody_open"
        elif in_body and token.type == "tr_open":
            rows.append([])
        elif in_body and token.type == "inline":
            rows[-1].append(token.content.strip())
    return rows


def github_slug(text: str) -> str:
    """A heading's anchor by GitHub's rules: lower case, punctuation dropped but for hyphens
    and underscores, each space a hyphen."""
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def github_anchors(page: str) -> set[str]:
    """The ``#anchor`` of each heading of ``page``."""
    return anchors_of(headings(page))


def anchors_of(found: list[Heading]) -> set[str]:
    """The anchors of these headings; a repeated one gets ``-1``, ``-2``, ..."""
    seen: dict[str, int] = {}
    anchors: set[str] = set()
    for heading in found:
        slug = github_slug(heading.text)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors

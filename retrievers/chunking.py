"""Chunking by structure: a document's headings define its sections, each chunk knows its path.

Loaders hand over Markdown-shaped text — ``#`` headings for Markdown, HTML ``<h1>``–``<h6>`` and
DOCX heading styles, one text per page for PDFs — and this module cuts it:

1. blocks: paragraphs between blank lines (a fenced code block stays one block);
2. sections: a ``#`` heading opens a section at its level; so does a *plain heading*, a lone
   short line without final punctuation followed by text, as documents converted from other
   formats (and plain-text files) write their titles — it ranks below every ``#`` level;
3. chunks: small neighbouring sections are packed together up to the chunk size (the first one
   names the chunk, the others keep their heading line in the text), long ones are cut between
   paragraphs, then lines, then sentences, with the configured overlap.

Every chunk carries its heading path (``Guide › Installation › Linux``) and, for paginated
formats, its page, so answers can cite both.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from retrievers.base import Chunk

CHUNKER_VERSION = 3
"""Raised when a change here, or in how a loader reads a format (3: PDFs read by their layout), cuts
the same file differently: a file stored by an earlier chunker is cut again the next time it is
ingested, even with the same bytes."""
SECTION_SEPARATOR = " › "
PLAIN_HEADING_LEVEL = 7
MAX_PLAIN_HEADING_CHARS = 80
MAX_PLAIN_HEADING_WORDS = 12
MAX_HEADING_CHARS = 150
"""A ``#`` line longer than this is a paragraph marked as a heading, not a title: kept as text, so
its sentences can be quoted and it does not weigh as a heading in every chunk of its section."""
_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_LIST_OR_TABLE = re.compile(r"^\s*([-*+>|]|\d+[.)])\s")
_SENTENCE = r"(?<=[.!?;])\s+"
BODY_SEPARATORS = [r"\n{2,}", r"\n", _SENTENCE, r" ", r""]


@dataclass
class _Section:
    path: tuple[str, ...]
    heading: str
    """The heading line as written, kept in the text when the section is packed behind another."""
    blocks: list[str]
    page: int | None

    @property
    def body(self) -> str:
        return "\n\n".join(self.blocks)


def blocks(text: str) -> list[str]:
    """Paragraphs between blank lines; a fenced code block is one block whatever it holds."""
    out: list[str] = []
    current: list[str] = []
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        if not line.strip() and not fenced:
            if current:
                out.append("\n".join(current).strip())
                current = []
            continue
        current.append(line.rstrip())
    if current:
        out.append("\n".join(current).strip())
    return [b for b in out if b]


def heading_of(block: str, following: str | None) -> tuple[int, str] | None:
    """``(level, text)`` when the block is a heading: a ``#`` line, or a plain heading (one short
    line, no final punctuation but a question mark — FAQ entries ask their heading —, not a list
    item, followed by a longer block)."""
    if "\n" in block:
        return None
    if match := _ATX.match(block):
        if len(match.group(2)) > MAX_HEADING_CHARS:
            return None  # a whole paragraph behind a "#" (converted documents do this): text, not a title
        return len(match.group(1)), match.group(2).strip()
    words = block.split()
    if (
        following is not None
        and len(block) <= MAX_PLAIN_HEADING_CHARS
        and 0 < len(words) <= MAX_PLAIN_HEADING_WORDS
        and not block.rstrip().endswith((".", ",", ";", ":", "!", "…", ")", "»"))
        and not _LIST_OR_TABLE.match(block)
        and (block[0].isupper() or block[0] == "`")
        and len(following) > len(block)
        and heading_of(following, None) is None
    ):
        return PLAIN_HEADING_LEVEL, block.strip()
    return None


def sections(text: str, page: int | None = None, path: tuple[tuple[int, str], ...] = ()) -> tuple[list[_Section], tuple[tuple[int, str], ...]]:
    """The text's sections in order, and the heading path open at its end (a page continues the
    previous page's section)."""
    found: list[_Section] = []
    stack = list(path)
    current = _Section(tuple(t for _, t in stack), "", [], page)
    items = blocks(text)
    for index, block in enumerate(items):
        heading = heading_of(block, items[index + 1] if index + 1 < len(items) else None)
        if heading is None:
            current.blocks.append(block)
            continue
        if current.blocks:
            found.append(current)
        level, title = heading
        stack = [(lvl, t) for lvl, t in stack if lvl < level] + [(level, title)]
        current = _Section(tuple(t for _, t in stack), block, [], page)
    if current.blocks:
        found.append(current)
    return found, tuple(stack)


def chunk_document(text: str | Sequence[str], *, chunk_size: int, chunk_overlap: int, paginated: bool = False) -> list[Chunk]:
    """Chunks of at most ``chunk_size`` characters, each with its section path (and its 1-based
    page when ``paginated``: ``text`` is then one string per page)."""
    pages = [text] if isinstance(text, str) else list(text)
    all_sections: list[_Section] = []
    path: tuple[tuple[int, str], ...] = ()
    for number, page_text in enumerate(pages, start=1):
        found, path = sections(page_text, number if paginated else None, path)
        all_sections.extend(found)
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size, chunk_overlap=chunk_overlap, separators=BODY_SEPARATORS, is_separator_regex=True, keep_separator="start"
    )
    chunks: list[Chunk] = []
    pack: list[_Section] = []

    def flush() -> None:
        if not pack:
            return
        first = pack[0]
        parts = [first.body] + [f"{s.heading}\n\n{s.body}" if s.heading else s.body for s in pack[1:]]
        chunks.append(Chunk("\n\n".join(parts), SECTION_SEPARATOR.join(first.path), first.page))
        pack.clear()

    for section in all_sections:
        body = section.body
        if len(body) > chunk_size:
            flush()
            for piece in splitter.split_text(body):
                if piece.strip():
                    chunks.append(Chunk(piece.strip(), SECTION_SEPARATOR.join(section.path), section.page))
            continue
        packed = sum(len(s.body) + len(s.heading) + 2 for s in pack) + len(body) + len(section.heading)
        if pack and (packed > chunk_size or section.page != pack[0].page or not _shares_parent(pack[0], section)):
            flush()
        pack.append(section)
    flush()
    return chunks


def _shares_parent(first: _Section, other: _Section) -> bool:
    """Sections packed together stay under the first one's parent heading."""
    return other.path[: max(len(first.path) - 1, 0)] == first.path[: max(len(first.path) - 1, 0)]

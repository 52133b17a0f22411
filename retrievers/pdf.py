"""A PDF's text by its structure: paragraphs, headings, no running headers, one text per page.

pdfminer.six does the layout analysis (characters → lines → text boxes, with each character's
font and size); this module only reads its result:

- a text box is a paragraph: its lines joined with spaces (a monospace box keeps its lines), a
  word hyphenated at a line end rejoined, paragraphs separated by a blank line;
- a short box (one or two lines, no final period) set clearly larger than the body text (the most
  common size, by characters) is a heading, written as a Markdown ``#`` line ranked by size; so is
  a lone bold line at body size, one rank below the smallest size heading. The chunker then opens
  sections on them, across page breaks;
- boxes in the top or bottom margin whose text, digits masked, repeats on most pages (running
  titles, dates, file paths, "3/10") are dropped, as is a lone page number there;
- the text is NFKC-normalised: typographic ligatures (``ﬁ``, ``ﬀ``) become letters.

pypdf's ``extract_text`` gives one line per printed line and no paragraph or heading; its
``visitor_text`` callback gives positions and font sizes, from which paragraphs would have to be
rebuilt by hand — what pdfminer's layout analysis is.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

MARGIN = 0.12
"""Top and bottom share of the page height where running headers and footers are looked for."""
HEADING_SCALE = 1.15
"""A heading's characters are at least this much larger than the body's."""
MAX_HEADING_LINES = 2
MAX_HEADING_CHARS = 150
MIN_REPEATS = 3
_LINE_MERGE = 3.0
"""pdfminer's ``char_margin``: justified lines space words widely; at the default (2.0) a line
with wide gaps is cut in two boxes, the second placed after its paragraph."""

_BOLD = re.compile(r"bold|black|heavy|semibold|demibold", re.IGNORECASE)
_MONO = re.compile(r"mono|courier|consol|code", re.IGNORECASE)
_CID = re.compile(r"\(cid:\d+\)")
_PAGE_NUMBER = re.compile(
    r"^(?:page|p\.)?\s*[-–—]?\s*(?:\d+|[ivxlc]{1,6})\s*(?:(?:/|sur|of|de)\s*\d+)?\s*[-–—]?$", re.IGNORECASE
)
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_HYPHENATED_END = re.compile(r"([^\W\d_]+)[-\u2010]$")
_SOFT_HYPHEN_END = re.compile(r"[^\W\d_]\u00ad$")
_LIST_ITEM = re.compile(r"^(?:[•◦▪‣●○■□–*-]|\d+[.)])\s")
_GENERIC_TITLE = re.compile(
    r"^(?:microsoft (?:word|powerpoint|excel) - |untitled\b|sans titre\b|document\s*\d*$)|"
    r"\.(?:docx?|odt|rtf|pdf|tex|dvi|pptx?|xlsx?|indd|html?)$|://|^/",
    re.IGNORECASE,
)
COMPOUND_ENDINGS = frozenset(
    "être ci là il ils elle elles on je tu nous vous le la les lui leur leurs moi toi même mêmes t y en "
    "dessus dessous delà clé clés".split()
)
"""Second parts of French compounds (``peut-être``, ``celui-ci``, ``dit-il``): a line-end hyphen
before one of them is kept, when the document's own words do not settle the question."""


class TextLimitError(ValueError):
    """The PDF holds more text than allowed: raised as soon as its pages exceed it."""

    def __init__(self, limit: int, pages: int):
        super().__init__(f"over {limit} characters of text by page {pages}")
        self.limit, self.pages = limit, pages


@dataclass
class _Box:
    page: int
    lines: list[str]
    size: float
    bold: bool
    mono: bool
    zone: str
    """``top`` or ``bottom`` for a box inside a margin, else ``''``."""
    level: int = 0

    @property
    def flat(self) -> str:
        return " ".join(self.lines)


def read_pdf(data: bytes, max_chars: int | None = None) -> tuple[str, tuple[str, ...]]:
    """``(title, pages)``: the metadata title unless generic ("Microsoft Word - x.docx"), else the
    first top-ranked heading; each page's text, Markdown-shaped. An encrypted PDF is opened with
    the empty password; reading stops once the body text exceeds ``max_chars``
    (``TextLimitError``)."""
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.layout import LAParams, LTTextBox
    from pdfminer.pdfdocument import PDFDocument
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage
    from pdfminer.pdfparser import PDFParser

    document = PDFDocument(PDFParser(io.BytesIO(data)), password="")
    resources = PDFResourceManager()
    device = PDFPageAggregator(resources, laparams=LAParams(char_margin=_LINE_MERGE))
    interpreter = PDFPageInterpreter(resources, device)
    boxes: list[_Box] = []
    count = body_chars = 0
    for count, page in enumerate(PDFPage.create_pages(document), start=1):
        interpreter.process_page(page)
        layout = device.get_result()
        for item in layout:
            if isinstance(item, LTTextBox) and (box := _box(item, count, layout.y0, layout.height)):
                boxes.append(box)
                body_chars += 0 if box.zone else len(box.flat)
        if max_chars is not None and body_chars > max_chars:
            raise TextLimitError(max_chars, count)
    if count == 0:
        raise ValueError("the PDF has no pages")
    boxes = _drop_running(boxes, count)
    _rank_headings(boxes)
    vocabulary = {w.lower() for b in boxes for line in b.lines for w in _WORD.findall(line)}
    pages: list[list[str]] = [[] for _ in range(count)]
    for box in boxes:
        text = box.flat if box.level else _paragraph(box, vocabulary)
        pages[box.page - 1].append(f"{'#' * box.level} {text}" if box.level else text)
    return _title(document) or _first_heading(boxes), tuple("\n\n".join(p) for p in pages)


def _box(item, page: int, bottom: float, height: float) -> _Box | None:
    from pdfminer.layout import LTChar, LTTextLine

    sizes: Counter[float] = Counter()
    bold = mono = total = 0
    lines: list[str] = []
    for line in item:
        if not isinstance(line, LTTextLine):
            continue
        for char in line:
            if isinstance(char, LTChar) and not char.get_text().isspace():
                total += 1
                sizes[round(char.size * 2) / 2] += 1
                bold += bool(_BOLD.search(char.fontname))
                mono += bool(_MONO.search(char.fontname))
        text = " ".join(_CID.sub("", unicodedata.normalize("NFKC", line.get_text())).split())
        if text:
            lines.append(text)
    if not lines or not total:
        return None
    margin = height * MARGIN
    zone = "top" if item.y0 >= bottom + height - margin else "bottom" if item.y1 <= bottom + margin else ""
    size = sizes.most_common(1)[0][0]
    return _Box(page, lines, size, bold >= 0.9 * total, mono >= 0.9 * total, zone)


def _drop_running(boxes: list[_Box], pages: int) -> list[_Box]:
    """Without the margin boxes repeated on most pages (digits masked) and lone page numbers."""
    seen: dict[tuple[str, str, float], set[int]] = defaultdict(set)
    for box in boxes:
        if box.zone:
            seen[_running_key(box)].add(box.page)
    needed = 2 if pages == 2 else MIN_REPEATS
    return [
        b
        for b in boxes
        if not b.zone or (len(seen[_running_key(b)]) < needed and not _PAGE_NUMBER.match(b.flat))
    ]


def _running_key(box: _Box) -> tuple[str, str, float]:
    """Margin, text with digits masked, and size: a page's title at the top of page 1 is not the
    small running title repeating its words on every page."""
    return box.zone, re.sub(r"\d+", "#", box.flat.lower()), box.size


def _rank_headings(boxes: list[_Box]) -> None:
    """Set ``level`` on heading boxes: 1 for the largest heading size, and so on; a lone bold line
    at body size one below the smallest."""
    by_size: Counter[float] = Counter()
    for box in boxes:
        by_size[box.size] += sum(len(line) for line in box.lines)
    if not by_size:
        return
    body = by_size.most_common(1)[0][0]
    candidates = [b for b in boxes if _heading_shaped(b)]
    sizes = sorted({b.size for b in candidates if b.size >= body * HEADING_SCALE}, reverse=True)
    for box in candidates:
        if box.size >= body * HEADING_SCALE:
            box.level = min(sizes.index(box.size) + 1, 6)
        elif box.bold and len(box.lines) == 1 and abs(box.size - body) <= 0.5:
            box.level = min(len(sizes) + 1, 6)


def _heading_shaped(box: _Box) -> bool:
    text = box.flat
    return (
        len(box.lines) <= MAX_HEADING_LINES
        and len(text) <= MAX_HEADING_CHARS
        and not box.mono
        and not text.endswith((".", ",", ";", ":"))
        and any(c.isalpha() for c in text)
        and not _LIST_ITEM.match(text)
    )


def _paragraph(box: _Box, vocabulary: set[str]) -> str:
    """The box's lines as one paragraph: a monospace box (code) keeps its lines, a list item starts
    a line, and a word cut by a hyphen at a line end is rejoined."""
    if box.mono:
        return "\n".join(box.lines)
    out = box.lines[0]
    for line in box.lines[1:]:
        if _SOFT_HYPHEN_END.search(out):
            out = out[:-1] + line
        elif (cut := _HYPHENATED_END.search(out)) and line[:1].islower():
            second = _WORD.match(line)
            keep = second is not None and _keeps_hyphen(cut.group(1), second.group(0), vocabulary)
            out = out + line if keep else out[:-1] + line
        else:
            out += ("\n" if _LIST_ITEM.match(line) else " ") + line
    return out


def _keeps_hyphen(first: str, second: str, vocabulary: set[str]) -> bool:
    """Whether ``first-`` / ``second`` at a line break is a compound word (``peut-être``) rather
    than a word hyphenated to fit (``dévelop-`` / ``pement``): the document's own unbroken
    spelling decides when it has one, else the usual second parts of French compounds do."""
    whole = second.split("-")[0]
    if f"{first}-{whole}".lower() in vocabulary:
        return True
    if f"{first}{whole}".lower() in vocabulary:
        return False
    return whole.lower() in COMPOUND_ENDINGS


def _title(document) -> str:
    from pdfminer.pdftypes import resolve1
    from pdfminer.utils import decode_text

    for info in document.info:
        raw = resolve1(info.get("Title"))
        title = decode_text(raw) if isinstance(raw, bytes) else raw if isinstance(raw, str) else ""
        title = " ".join(unicodedata.normalize("NFKC", title).replace("\x00", "").split())
        if title and any(c.isalpha() for c in title) and not _GENERIC_TITLE.search(title):
            return title
    return ""


def _first_heading(boxes: Iterable[_Box]) -> str:
    return next((b.flat for b in boxes if b.level == 1), "")

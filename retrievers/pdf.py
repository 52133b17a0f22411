"""A PDF's text by its structure: paragraphs, headings, no running headers, one text per page.

pdfminer.six does the layout analysis (characters → lines → text boxes, with each character's
font and size); this module only reads its result:

- a text box is a paragraph: its lines joined with spaces (a monospace box keeps its lines), a
  word hyphenated at a line end rejoined, paragraphs separated by a blank line;
- a short box (one or two lines, no final period) set clearly larger than the body text (the most
  common size, by characters) is a heading, written as a Markdown ``#`` line ranked by size; so is
  a lone bold line at body size, one rank below the smallest size heading. The chunker then opens
  sections on them, across page breaks;
- table cells, one box each, are regrouped row by row into ``a | b`` lines;
- lines in the top or bottom margin whose text, digits masked, repeats on most pages (running
  titles, dates, file paths, "3/10") are dropped, as is a lone page number there;
- the text is NFKC-normalised: typographic ligatures (``ﬁ``, ``ﬀ``) become letters;
- a page without a text layer (a handful of characters at most) that shows an image is a scan: its
  text is asked of the ``ocr`` reader given (``retrievers.ocr``), the other pages keep this reading.

pypdf's ``extract_text`` gives one line per printed line and no paragraph or heading; its
``visitor_text`` callback gives positions and font sizes, from which paragraphs would have to be
rebuilt by hand — what pdfminer's layout analysis is.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

MARGIN = 0.12
"""Top and bottom share of the page height where running headers and footers are looked for."""
HEADING_SCALE = 1.15
"""A heading's characters are at least this much larger than the body's."""
MAX_HEADING_LINES = 2
MAX_HEADING_CHARS = 150
MIN_REPEATS = 3
SCANNED_MAX_CHARS = 20
"""A page showing an image with at most this many characters of text is read by OCR: a scan may
carry a stamped page number or a few stray characters of its own."""
_LINE_MERGE = 3.0
"""pdfminer's ``char_margin``: justified lines space words widely; at the default (2.0) a line
with wide gaps is cut in two boxes, the second placed after its paragraph."""

_BOLD = re.compile(r"bold|black|heavy|semibold|demibold|cmbx|sfbx", re.IGNORECASE)  # cmbx, sfbx: TeX bold
_MONO = re.compile(r"mono|courier|consol|code|cmtt|sftt", re.IGNORECASE)  # cmtt, sftt: TeX typewriter
_CID = re.compile(r"\(cid:\d+\)")
PAGE_NUMBER = re.compile(r"^(?:page|p\.)?\s*[-–—]?\s*(?:\d+|[ivxlc]{1,6})\s*(?:(?:/|sur|of|de)\s*\d+)?\s*[-–—]?$", re.IGNORECASE)
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
    "être ci là il ils elle elles on je tu nous vous le la les lui leur leurs moi toi même mêmes t y en ce "
    "à dire vis midi uns unes dessus dessous delà clé clés "
    "un une deux trois quatre cinq six sept huit neuf dix onze douze seize vingt".split()
)
"""Second parts of French compounds (``peut-être``, ``celui-ci``, ``dit-il``, ``après-midi``,
``dix-huit``): a line-end hyphen before one of them is kept, when the document's own words do not settle the question."""


class TextLimitError(ValueError):
    """The PDF holds more text than allowed: raised as soon as its pages exceed it."""

    def __init__(self, limit: int, pages: int):
        super().__init__(f"over {limit} characters of text by page {pages}")
        self.limit, self.pages = limit, pages


class ScannedPdfError(ValueError):
    """No page has a text layer, some are images (a scan), and no OCR reader was given."""


PageOcr = Callable[[bytes, Sequence[int]], Sequence[str]]
"""Reads the PDF's pages at these 0-based indices by OCR: one text per page, paragraphs between
blank lines."""


@dataclass
class _Line:
    text: str
    sizes: Counter[float]
    """Characters by size (rounded to half a point)."""
    bold: int
    mono: int
    zone: str
    """``top`` or ``bottom`` for a line inside a page margin, else ``''``."""

    @property
    def size(self) -> float:
        return self.sizes.most_common(1)[0][0]


@dataclass
class _Box:
    """A pdfminer text box: a paragraph, a heading, or a running header."""

    page: int
    lines: list[_Line]
    bbox: tuple[float, float, float, float]
    level: int = 0
    cells: list[str] = field(default_factory=list)
    """A table row's cells, left to right, when single-line boxes side by side were merged."""

    @property
    def flat(self) -> str:
        return " ".join(line.text for line in self.lines)

    @property
    def size(self) -> float:
        return sum((line.sizes for line in self.lines), Counter()).most_common(1)[0][0]

    @property
    def chars(self) -> int:
        return sum(line.sizes.total() for line in self.lines)

    @property
    def bold(self) -> bool:
        return sum(line.bold for line in self.lines) >= 0.9 * self.chars

    @property
    def mono(self) -> bool:
        return sum(line.mono for line in self.lines) >= 0.9 * self.chars


def read_pdf(data: bytes, max_chars: int | None = None, ocr: PageOcr | None = None) -> tuple[str, tuple[str, ...]]:
    """``(title, pages)``: the metadata title unless generic ("Microsoft Word - x.docx"), else the
    first top-ranked heading; each page's text, Markdown-shaped. An encrypted PDF is opened with
    the empty password; reading stops once the text outside the margins exceeds ``max_chars``
    (``TextLimitError``). Scanned pages are read by ``ocr``; without it they are empty, and a PDF
    that is only scans is refused (``ScannedPdfError``)."""
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.layout import LAParams, LTTextBox
    from pdfminer.pdfdocument import PDFDocument, PDFPasswordIncorrect
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage
    from pdfminer.pdfparser import PDFParser

    try:
        document = PDFDocument(PDFParser(io.BytesIO(data)), password="")
    except PDFPasswordIncorrect as exc:
        raise ValueError("the PDF is protected by a password: upload it without one") from exc
    resources = PDFResourceManager()
    device = PDFPageAggregator(resources, laparams=LAParams(char_margin=_LINE_MERGE))
    interpreter = PDFPageInterpreter(resources, device)
    boxes: list[_Box] = []
    scanned: list[int] = []
    count = body_chars = 0
    for count, page in enumerate(PDFPage.create_pages(document), start=1):
        interpreter.process_page(page)
        layout = device.get_result()
        on_page = [
            _Box(count, lines, item.bbox)
            for item in layout
            if isinstance(item, LTTextBox) and (lines := _lines(item, layout.y0, layout.height))
        ]
        if sum(len(line.text) for box in on_page for line in box.lines) <= SCANNED_MAX_CHARS and _shows_image(layout):
            scanned.append(count - 1)
            if ocr is not None:
                continue  # OCR reads the whole page, these few characters with it
        boxes.extend(on_page)
        body_chars += sum(len(line.text) for box in on_page for line in box.lines if not line.zone)
        if max_chars is not None and body_chars > max_chars:
            raise TextLimitError(max_chars, count)
    if count == 0:
        raise ValueError("the PDF has no pages")
    if scanned and ocr is None and not boxes:
        raise ScannedPdfError(f"its {'page is an image' if count == 1 else 'pages are images'} without a text layer (a scan)")
    boxes = _rows(_drop_running(boxes, count))
    _rank_headings(boxes)
    boxes = _continued(boxes)
    pages = list(_page_texts(boxes, count))
    if scanned and ocr is not None:
        for index, text in zip(scanned, ocr(data, scanned), strict=True):
            pages[index] = text
    return _title(document) or _first_heading(boxes), tuple(pages)


def _shows_image(item) -> bool:
    """Whether a layout item is or holds an image (a scan is an image drawn inside a figure)."""
    from pdfminer.layout import LTContainer, LTImage

    return isinstance(item, LTImage) or (isinstance(item, LTContainer) and any(_shows_image(child) for child in item))


def _page_texts(boxes: list[_Box], count: int) -> tuple[str, ...]:
    """Each page's blocks between blank lines: ``#`` headings, paragraphs, a table's rows."""
    vocabulary = {w.lower() for b in boxes for line in b.lines for w in _WORD.findall(line.text)}
    pages: list[list[str]] = [[] for _ in range(count)]
    previous: _Box | None = None
    for box in boxes:
        blocks = pages[box.page - 1]
        if box.cells and previous is not None and previous.cells and previous.page == box.page:
            blocks[-1] += "\n" + " | ".join(box.cells)  # a table is one block, a row a line
        elif box.cells:
            blocks.append(" | ".join(box.cells))
        else:
            text = box.flat if box.level else _paragraph(box, vocabulary)
            blocks.append(f"{'#' * box.level} {text}" if box.level else text)
        previous = box
    return tuple("\n\n".join(p) for p in pages)


def _lines(item, bottom: float, height: float) -> list[_Line]:
    """The box's lines with their text NFKC-normalised and whitespace collapsed (pdfminer adds a
    space where a gap is wide, beside the PDF's own), and the fonts and sizes of their characters.
    Pieces of one printed line are put back together left to right: pdfminer cuts a justified line
    whose gaps are wide and may order the pieces wrongly."""
    from pdfminer.layout import LTChar, LTTextLine

    printed: list[list] = []
    for line in item:
        if not isinstance(line, LTTextLine):
            continue
        last = printed[-1][0] if printed else None
        if last is not None and min(last.y1, line.y1) - max(last.y0, line.y0) >= 0.5 * min(last.height, line.height):
            printed[-1].append(line)
        else:
            printed.append([line])
    margin = height * MARGIN
    out: list[_Line] = []
    for pieces in printed:
        pieces.sort(key=lambda piece: piece.x0)
        raw = " ".join(piece.get_text() for piece in pieces)
        text = " ".join(_CID.sub("", unicodedata.normalize("NFKC", raw)).split())
        chars = [c for piece in pieces for c in piece if isinstance(c, LTChar) and not c.get_text().isspace()]
        if not text or not chars:
            continue
        y0, y1 = min(p.y0 for p in pieces), max(p.y1 for p in pieces)
        zone = "top" if y0 >= bottom + height - margin else "bottom" if y1 <= bottom + margin else ""
        out.append(
            _Line(
                text,
                Counter(round(c.size * 2) / 2 for c in chars),
                sum(bool(_BOLD.search(c.fontname)) for c in chars),
                sum(bool(_MONO.search(c.fontname)) for c in chars),
                zone,
            )
        )
    return out


def _continued(boxes: list[_Box]) -> list[_Box]:
    """A paragraph cut by a column or a page break rejoined: a box that ends mid-sentence followed
    by one that starts in lowercase, on the same page or first on the next. A paragraph carried
    over stays on the page where it starts (the one its citation gives), so that no sentence is
    quoted cut in two."""
    out: list[_Box] = []
    for box in boxes:
        previous = out[-1] if out else None
        if (
            previous is not None
            and box.page in (previous.page, previous.page + 1)
            and not (previous.level or box.level or previous.cells or box.cells or previous.mono or box.mono)
            and not previous.lines[-1].text.endswith((".", "!", "?", ":", ";", "»", ")"))
            and box.lines[0].text[:1].islower()
        ):
            previous.lines = previous.lines + box.lines
            continue
        out.append(box)
    return out


class MarginLine(Protocol):
    zone: str
    """``top`` or ``bottom`` for a line inside a page margin, else ``''``."""
    text: str


L = TypeVar("L", bound=MarginLine)


def running_lines(lines: Iterable[tuple[int, L]], pages: int, key: Callable[[L], Hashable]) -> Callable[[L], bool]:
    """Whether a line is a running header or footer: a margin line whose ``key`` (its text with
    digits masked, at least) comes back on most of the ``pages`` (``MIN_REPEATS``, both of two),
    or a lone page number in a margin. ``lines`` are ``(page, line)``, every line of every page.
    One rule for the layout reading and for OCR'd pages."""
    seen: dict[Hashable, set[int]] = defaultdict(set)
    for page, line in lines:
        if line.zone:
            seen[key(line)].add(page)
    needed = 2 if pages == 2 else MIN_REPEATS
    return lambda line: bool(line.zone) and (len(seen[key(line)]) >= needed or PAGE_NUMBER.match(line.text) is not None)


def _drop_running(boxes: list[_Box], pages: int) -> list[_Box]:
    """Without running headers, footers and page numbers (``running_lines``); lines, not boxes,
    as a header printed close to the text lands in the first paragraph's box."""
    running = running_lines(((box.page, line) for box in boxes for line in box.lines), pages, _running_key)
    kept: list[_Box] = []
    for box in boxes:
        box.lines = [line for line in box.lines if not running(line)]
        if box.lines:
            kept.append(box)
    return kept


def _rows(boxes: list[_Box]) -> list[_Box]:
    """Tables as rows: pdfminer makes each cell a one-line box and orders them column by column
    where cells align, so a run of one-line boxes holding at least two rows of two cells side by
    side is read again row by row, each row one box whose ``cells`` are left to right."""
    out: list[_Box] = []
    run: list[_Box] = []
    for box in boxes:
        if run and (len(box.lines) != 1 or box.page != run[0].page):
            out.extend(_table(run) or run)
            run = []
        (run if len(box.lines) == 1 else out).append(box)
    out.extend(_table(run) or run)
    return out


def _table(run: list[_Box]) -> list[_Box] | None:
    rows: list[list[_Box]] = []
    for box in sorted(run, key=lambda b: -b.bbox[3]):
        first = rows[-1][0] if rows else None
        if first is not None:
            overlap = min(first.bbox[3], box.bbox[3]) - max(first.bbox[1], box.bbox[1])
            if overlap >= 0.5 * min(first.bbox[3] - first.bbox[1], box.bbox[3] - box.bbox[1]):
                rows[-1].append(box)
                continue
        rows.append([box])
    for row in rows:
        row.sort(key=lambda b: b.bbox[0])
        if any(right.bbox[0] < left.bbox[2] - 1 for left, right in zip(row, row[1:], strict=False)):
            return None  # overlapping boxes: not cells
    if sum(len(row) >= 2 for row in rows) < 2:
        return None
    merged = []
    for row in rows:
        box = row[0]
        if len(row) >= 2:
            box = _Box(box.page, [line for b in row for line in b.lines], box.bbox, cells=[b.flat for b in row])
        merged.append(box)
    return merged


def _running_key(line: _Line) -> tuple[str, str, float]:
    """Margin, text with digits masked, and size: a page's title at the top of page 1 is not the
    small running title repeating its words on every page."""
    return line.zone, re.sub(r"\d+", "#", line.text.lower()), line.size


def _rank_headings(boxes: list[_Box]) -> None:
    """Set ``level`` on heading boxes: 1 for the largest heading size, and so on; a lone bold line
    at body size one below the smallest."""
    by_size: Counter[float] = Counter()
    for box in boxes:
        for line in box.lines:
            by_size.update(line.sizes)
    if not by_size:
        return
    body = by_size.most_common(1)[0][0]
    candidates = [b for b in boxes if _heading_shaped(b)]
    sizes = sorted({b.size for b in candidates if b.size >= body * HEADING_SCALE}, reverse=True)
    for box in candidates:
        if box.size >= body * HEADING_SCALE:
            box.level = min(sizes.index(box.size) + 1, 6)
        elif box.bold and len(box.lines) == 1 and box.size >= body - 0.5:
            box.level = min(len(sizes) + 1, 6)


def _heading_shaped(box: _Box) -> bool:
    text = box.flat
    return (
        not box.cells
        and len(box.lines) <= MAX_HEADING_LINES
        and len(text) <= MAX_HEADING_CHARS
        and not box.mono
        and not text.endswith((".", ",", ";", ":"))
        and any(c.isalpha() for c in text)
        and not _LIST_ITEM.match(text)
    )


def _paragraph(box: _Box, vocabulary: set[str]) -> str:
    """The box's lines as one paragraph: a monospace box (code) keeps its lines, a list item starts
    a line, and a word cut by a hyphen at a line end is rejoined."""
    lines = [line.text for line in box.lines]
    if box.mono:
        return "\n".join(lines)
    out = lines[0]
    for line in lines[1:]:
        if _SOFT_HYPHEN_END.search(out):
            out = out[:-1] + line
        elif (cut := _HYPHENATED_END.search(out)) and line[:1].islower():
            second = _WORD.match(line)
            keep = second is not None and keeps_line_end_hyphen(cut.group(1), second.group(0), vocabulary)
            out = out + line if keep else out[:-1] + line
        else:
            out += ("\n" if _LIST_ITEM.match(line) else " ") + line
    return out


def keeps_line_end_hyphen(first: str, second: str, vocabulary: set[str]) -> bool:
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
    """A top-ranked heading on the first page, where a title is; a chapter's further on is not."""
    return next((b.flat for b in boxes if b.level == 1 and b.page == 1), "")

"""Text of scanned PDF pages by OCR: PDFium rasterises the page, Tesseract reads it.

Only pages without a text layer come here (``retrievers.pdf`` picks them); Tesseract's own layout
analysis gives blocks and paragraphs, kept as paragraphs separated by a blank line so that the
chunker cuts between them. Tesseract is a Debian package (``tesseract-ocr`` and a language pack
per language, ``tesseract-ocr-fra``); a deployment without it refuses scanned PDFs with a message
saying what to install.

Tesseract runs as a subprocess with ``OMP_THREAD_LIMIT=1``: its OpenMP threads spin rather than
work on a page this size, measured at 8 times the CPU (and the wall time) of one thread. The
wrapper ``pytesseract`` always passes the process's own environment, so the command is run here,
its TSV output (one row per word with its block, paragraph and line numbers) read with ``csv``.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

DPI = 300
"""Tesseract's accuracy is best with text about 20-30 pixels high: 300 dpi for body text."""
MAX_PIXELS = 40_000_000
"""A page larger than A3 at 300 dpi (17 Mpx) is rendered at a lower resolution: an oversized page
box must not become a bitmap of gigabytes."""
PAGE_TIMEOUT_S = 300
"""Seconds Tesseract may spend on one page before the file is refused."""
INSTALL_HINT = "install Debian's tesseract-ocr and tesseract-ocr-fra (apt-get install tesseract-ocr tesseract-ocr-fra)"


class OcrUnavailableError(ValueError):
    """OCR cannot run here: Tesseract or one of the requested language packs is not installed."""


class OcrPageLimitError(ValueError):
    """More scanned pages than a file may have read by OCR."""

    def __init__(self, limit: int, pages: int):
        super().__init__(f"{pages} scanned pages, over the OCR limit of {limit}")
        self.limit, self.pages = limit, pages


@dataclass(frozen=True)
class OcrOptions:
    """``auto`` reads scanned pages when Tesseract is installed; ``off`` never does."""

    mode: Literal["auto", "off"] = "auto"
    languages: str = "fra+eng"
    """Tesseract's ``-l``: language packs joined by ``+``."""
    max_pages: int = 100


def installed() -> bool:
    return shutil.which("tesseract") is not None


def installed_languages() -> set[str]:
    """The language packs Tesseract finds (``tesseract --list-langs``: a header line, one a line)."""
    listed = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, timeout=30, check=True)
    return {line.strip() for line in listed.stdout.splitlines()[1:] if line.strip()}


def status(options: OcrOptions) -> str:
    """One line for the start-up log: whether scanned PDFs will be read, and why not."""
    if options.mode == "off":
        return "OCR off (ROUTEUR_OCR=off): scanned PDFs are refused"
    if not installed():
        return f"OCR unavailable: Tesseract is not installed, scanned PDFs are refused; to read them, {INSTALL_HINT}"
    missing = set(options.languages.split("+")) - installed_languages()
    if missing:
        return f"OCR unavailable: Tesseract language pack(s) {', '.join(sorted(missing))} not installed (tesseract-ocr-<lang>)"
    return f"OCR available: scanned PDF pages are read by Tesseract ({options.languages}, at most {options.max_pages} page{'s' if options.max_pages > 1 else ''} a file)"


def read_pages(data: bytes, pages: Sequence[int], options: OcrOptions) -> list[str]:
    """The text of the PDF's pages at these 0-based indices, paragraphs between blank lines.
    Refused before any page is read when there are more than ``max_pages`` of them
    (``OcrPageLimitError``) or a language pack is missing (``OcrUnavailableError``)."""
    import pypdfium2 as pdfium

    if len(pages) > options.max_pages:
        raise OcrPageLimitError(options.max_pages, len(pages))
    if not installed():
        raise OcrUnavailableError(f"Tesseract is not installed: {INSTALL_HINT}")
    missing = set(options.languages.split("+")) - installed_languages()
    if missing:
        raise OcrUnavailableError(
            f"the Tesseract language pack(s) {', '.join(sorted(missing))} asked by ROUTEUR_OCR_LANGUAGES "
            f"are not installed (Debian: tesseract-ocr-{' tesseract-ocr-'.join(sorted(missing))})"
        )
    document = pdfium.PdfDocument(data)
    try:
        read = []
        for index in pages:
            page = document[index]
            width, height = page.get_size()
            scale = min(DPI / 72, math.sqrt(MAX_PIXELS / max(width * height, 1)))
            image = io.BytesIO()
            page.render(scale=scale, grayscale=True).to_pil().save(image, "PPM")  # raw: nothing to compress
            read.append(_lines(_tesseract(image.getvalue(), options.languages, round(scale * 72))))
    finally:
        document.close()
    return [_paragraphs(lines) for lines in _drop_running(read)]


def _tesseract(image: bytes, languages: str, dpi: int) -> list[list[str]]:
    """Tesseract's TSV rows for one image: level, page, block, paragraph, line, word numbers,
    box, confidence, text."""
    command = ["tesseract", "stdin", "stdout", "-l", languages, "--dpi", str(dpi), "tsv"]
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        done = subprocess.run(command, input=image, capture_output=True, timeout=PAGE_TIMEOUT_S, env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ValueError(f"OCR took over {PAGE_TIMEOUT_S} s on one page") from exc
    if done.returncode:
        raise ValueError(f"Tesseract failed: {done.stderr.decode(errors='replace').strip()[-200:]}")
    rows = csv.reader(io.StringIO(done.stdout.decode()), delimiter="\t", quoting=csv.QUOTE_NONE)
    next(rows, None)  # the header
    return [row for row in rows if len(row) == 12]


@dataclass
class _Line:
    paragraph: tuple[str, str]
    """Tesseract's block and paragraph numbers."""
    text: str
    zone: str
    """``top`` or ``bottom`` for a line inside a page margin, else ``''``."""


def _lines(rows: list[list[str]]) -> list[_Line]:
    """The page's printed lines, words joined with spaces and NFKC-normalised, in reading order."""
    from retrievers.pdf import MARGIN

    height = next((int(row[9]) for row in rows if row[0] == "1"), 0)
    words: dict[tuple[str, str, str], list[tuple[str, int, int]]] = {}
    for _, _, block, par, line, _, _, top, _, tall, _, text in rows:
        if text := unicodedata.normalize("NFKC", text).strip():
            words.setdefault((block, par, line), []).append((text, int(top), int(top) + int(tall)))
    out = []
    for (block, par, _), line in words.items():
        y0, y1 = min(w[1] for w in line), max(w[2] for w in line)
        zone = "top" if y1 <= height * MARGIN else "bottom" if y0 >= height * (1 - MARGIN) else ""
        out.append(_Line((block, par), " ".join(w[0] for w in line), zone))
    return out


def _drop_running(pages: list[list[_Line]]) -> list[list[_Line]]:
    """Without running headers, footers and page numbers, by the layout reading's rule
    (``retrievers.pdf.running_lines``) over the scanned pages."""
    from retrievers.pdf import running_lines

    running = running_lines(
        ((number, line) for number, lines in enumerate(pages) for line in lines),
        len(pages),
        lambda line: (line.zone, re.sub(r"\d+", "#", line.text.lower())),
    )
    return [[line for line in lines if not running(line)] for lines in pages]


def _paragraphs(lines: list[_Line]) -> str:
    """Tesseract's lines grouped by block and paragraph, a paragraph's lines joined with spaces
    and a word hyphenated at a line end rejoined (unless it is a compound such as ``peut-être``)."""
    from retrievers.pdf import keeps_line_end_hyphen

    paragraphs: dict[tuple[str, str], list[str]] = {}
    for line in lines:
        paragraphs.setdefault(line.paragraph, []).append(line.text)
    vocabulary = {w.lower().strip(".,;:!?«»()") for texts in paragraphs.values() for line in texts for w in line.split()}
    out = []
    for texts in paragraphs.values():
        text = ""
        for line in texts:
            if text.endswith(("-", "\u2010")) and line[:1].islower():
                first, second = text.split()[-1][:-1], line.split()[0]
                text = text + line if keeps_line_end_hyphen(first, second, vocabulary) else text[:-1] + line
            else:
                text = f"{text} {line}" if text else line
        if any(c.isalnum() for c in text):
            out.append(text)
    return "\n\n".join(out)

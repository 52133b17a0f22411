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
        texts = []
        for index in pages:
            page = document[index]
            width, height = page.get_size()
            scale = min(DPI / 72, math.sqrt(MAX_PIXELS / max(width * height, 1)))
            image = io.BytesIO()
            page.render(scale=scale, grayscale=True).to_pil().save(image, "PPM")  # raw: nothing to compress
            texts.append(_paragraphs(_tesseract(image.getvalue(), options.languages, round(scale * 72))))
        return texts
    finally:
        document.close()


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


def _paragraphs(rows: list[list[str]]) -> str:
    """Tesseract's words grouped by block and paragraph, a paragraph's lines joined with spaces and
    a word hyphenated at a line end rejoined (unless it is a compound such as ``peut-être``)."""
    from retrievers.pdf import keeps_line_end_hyphen

    lines: dict[tuple[str, str], dict[str, list[str]]] = {}
    for _, _, block, par, line, *_, text in rows:
        if text := unicodedata.normalize("NFKC", text).strip():
            lines.setdefault((block, par), {}).setdefault(line, []).append(text)
    vocabulary = {w.lower().strip(".,;:!?«»()") for par in lines.values() for line in par.values() for w in line}
    out = []
    for paragraph in lines.values():
        text = ""
        for line in (" ".join(ws) for ws in paragraph.values()):
            if text.endswith(("-", "\u2010")) and line[:1].islower():
                first, second = text.split()[-1][:-1], line.split()[0]
                text = text + line if keeps_line_end_hyphen(first, second, vocabulary) else text[:-1] + line
            else:
                text = f"{text} {line}" if text else line
        if any(c.isalnum() for c in text):
            out.append(text)
    return "\n\n".join(out)

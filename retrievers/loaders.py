"""Turn an uploaded or local file into a title and plain text, chosen by its extension.

Every parser failure becomes ``EmptyDocumentError``: for the caller (CLI or upload API) a corrupt
file and a file without text are the same outcome, a clear message and nothing ingested.
"""

from __future__ import annotations

import functools
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING

from retrievers.chunking import MAX_HEADING_CHARS
from retrievers.ocr import INSTALL_HINT, OcrOptions, OcrPageLimitError, OcrUnavailableError
from retrievers.pdf import ScannedPdfError, TextLimitError

if TYPE_CHECKING:
    from bs4 import BeautifulSoup, Tag

SUPPORTED_EXTENSIONS: tuple[str, ...] = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx")
MARKDOWN_EXTENSIONS = (".md", ".markdown")
MAX_TITLE = 200

_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_DOCX_HEADING = re.compile(r"^Heading ([1-6])$")
_HTML_BLOCKS = (
    "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "figcaption", "footer",
    "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre",
    "section", "table", "tr", "ul",
)  # fmt: skip


class UnsupportedFileTypeError(ValueError):
    def __init__(self, filename: str):
        super().__init__(f"Unsupported file type for '{filename}'. Supported: {', '.join(SUPPORTED_EXTENSIONS)}")


class EmptyDocumentError(ValueError):
    """No text could be extracted: an empty file, a scan without OCR, or a corrupt file."""


class DocumentTooLargeError(ValueError):
    """The file would become more text, chunks or inflated bytes than the deployment accepts (413)."""


class SuspiciousArchiveError(ValueError):
    """A zip-based file (``.docx``) shaped like a decompression bomb: refused before inflating (400)."""


@dataclass(frozen=True)
class ExtractionLimits:
    """What one file may cost to read. ``.docx`` archives are checked from their central
    directory, before anything is inflated; extracted text is checked after parsing."""

    max_archive_ratio: int = 100
    max_archive_bytes: int = 64 * 1024 * 1024
    max_archive_entries: int = 2000
    max_extracted_chars: int = 2_000_000


@dataclass(frozen=True)
class LoadedDocument:
    """A file's title and text, headings written as Markdown ``#`` lines whatever the format;
    ``pages`` holds each page's text for paginated formats (PDF), empty otherwise."""

    title: str
    text: str
    pages: tuple[str, ...] = ()


def load_document(
    filename: str, data: bytes, limits: ExtractionLimits | None = None, ocr: OcrOptions | None = None
) -> LoadedDocument:
    """The file's title and text; a PDF's scanned pages are read by OCR as ``ocr`` allows."""
    path = PurePath(filename)
    suffix = path.suffix.lower()
    limits = limits or ExtractionLimits()
    ocr = ocr or OcrOptions()
    if suffix not in SUPPORTED_EXTENSIONS:
        raise UnsupportedFileTypeError(filename)
    if suffix == ".docx":
        check_archive(filename, data, limits)
    pages: tuple[str, ...] = ()
    try:
        if suffix in MARKDOWN_EXTENSIONS:
            title, text = _markdown(data)
        elif suffix == ".txt":
            title, text = _plain(data)
        elif suffix in (".html", ".htm"):
            title, text = _html(data)
        elif suffix == ".pdf":
            title, pages = _pdf(data, limits, ocr)
            text = "\n\n".join(pages)
        else:
            title, text = _docx(data)
    except EmptyDocumentError:
        raise
    except ScannedPdfError as exc:
        raise EmptyDocumentError(f"No text could be extracted from '{filename}': {exc}, and {_ocr_missing(ocr)}") from exc
    except OcrUnavailableError as exc:
        raise EmptyDocumentError(f"'{filename}' has scanned pages but OCR cannot read them: {exc}") from exc
    except OcrPageLimitError as exc:
        raise DocumentTooLargeError(
            f"'{filename}' has {exc.pages} scanned pages to read by OCR, over the limit of {exc.limit} per file "
            "(ROUTEUR_OCR_MAX_PAGES): split it"
        ) from exc
    except TextLimitError as exc:
        raise DocumentTooLargeError(
            f"'{filename}' holds more than {exc.limit} characters of text (reached by page {exc.pages}), "
            "over the limit per file: split it"
        ) from exc
    except Exception as exc:
        raise EmptyDocumentError(f"Cannot read '{filename}' ({type(exc).__name__}: {exc})"[:300]) from exc
    text = text.strip()
    if not text:
        raise EmptyDocumentError(f"No text could be extracted from '{filename}'")
    if len(text) > limits.max_extracted_chars:
        raise DocumentTooLargeError(
            f"'{filename}' holds {len(text)} characters of text, over the {limits.max_extracted_chars}-character limit per file: split it"
        )
    title = " ".join(title.split())[:MAX_TITLE] or path.stem
    return LoadedDocument(title=title, text=text, pages=pages)


def check_archive(filename: str, data: bytes, limits: ExtractionLimits) -> None:
    """Refuse a zip whose central directory announces a bomb: too many entries, too many bytes
    once inflated, or a compression ratio no office document has (XML compresses about 5-20x;
    bombs 100-1000x). Entry sizes are what the archive declares; the parser then reads at most
    that, as Python's zipfile stops an entry that inflates past its declared size."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError) as exc:
        raise EmptyDocumentError(f"Cannot read '{filename}' (not a valid .docx archive: {exc})"[:300]) from exc
    if len(entries) > limits.max_archive_entries:
        raise SuspiciousArchiveError(
            f"'{filename}' has {len(entries)} archive entries, over the limit of {limits.max_archive_entries}"
        )
    inflated = sum(e.file_size for e in entries)
    if inflated > limits.max_archive_bytes:
        raise DocumentTooLargeError(
            f"'{filename}' would inflate to {inflated} bytes, over the {limits.max_archive_bytes}-byte limit"
        )
    compressed = sum(e.compress_size for e in entries)
    worst = max(entries, key=lambda e: e.file_size / max(e.compress_size, 1), default=None)
    ratio = inflated / max(compressed, 1)
    entry_ratio = worst.file_size / max(worst.compress_size, 1) if worst else 0
    if max(ratio, entry_ratio) > limits.max_archive_ratio:
        raise SuspiciousArchiveError(
            f"'{filename}' is compressed {max(ratio, entry_ratio):.0f} times, over the ratio limit of "
            f"{limits.max_archive_ratio}: refused as a possible zip bomb"
        )


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        text = data.decode("latin-1")
    if "\x00" in text:
        raise EmptyDocumentError("The file looks binary, not text")
    return text


def _markdown(data: bytes) -> tuple[str, str]:
    """Title: the first heading (``#`` to ``######``); the first sentence of one too long to be a
    title (``MAX_HEADING_CHARS``)."""
    text = _decode(data)
    match = _ATX_HEADING.search(text)
    if not match:
        return "", text
    title = match.group(1)
    if len(title) > MAX_HEADING_CHARS:  # a paragraph marked as a heading: its first sentence names the document
        title = re.split(r"(?<=[.!?])\s", title, maxsplit=1)[0][:MAX_HEADING_CHARS]
    return title, text


def _plain(data: bytes) -> tuple[str, str]:
    """Title: a short first line set apart by a blank line, as plain-text documents do."""
    text = _decode(data)
    lines = text.strip().splitlines()
    if len(lines) >= 2 and not lines[1].strip():
        first = lines[0].strip()
        if len(first) <= 80 and not first.endswith((".", ",", ";", ":", "!", "?")):
            return first, text
    return "", text


_CHROME_ROLES = frozenset({"navigation", "banner", "contentinfo", "search", "complementary"})
_SECTIONING = ("article", "section")


def _is_chrome(tag: Tag) -> bool:
    """Menus, site banners and footers, sidebars and hidden elements: what every page of a site
    repeats around its content. A ``header``, ``footer`` or ``aside`` inside an article or a
    section belongs to it (an article's title, a note) and stays."""
    if tag.name == "nav" or tag.get("role") in _CHROME_ROLES or tag.has_attr("hidden") or tag.get("aria-hidden") == "true":
        return True
    return tag.name in ("header", "footer", "aside") and tag.find_parent(_SECTIONING) is None


def _content_root(soup: BeautifulSoup) -> Tag | BeautifulSoup:
    """The page's own content when it marks it (``<main>``, ``role="main"``, a lone ``<article>``),
    else the whole page."""
    from bs4 import Tag

    marked = soup.find("main") or soup.find(attrs={"role": "main"})
    if marked is None and len(articles := soup.find_all("article")) == 1:
        marked = articles[0]
    return marked if isinstance(marked, Tag) and marked.get_text(strip=True) else soup


def _html(data: bytes) -> tuple[str, str]:
    """Visible text of the page's content with block elements on their own lines: scripts,
    styles and the site's chrome (menus, banners, footers, sidebars) dropped, so that the words
    every page of a site repeats don't make all its pages look alike to the search."""
    from bs4 import BeautifulSoup, NavigableString

    soup = BeautifulSoup(data, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(["head", "title", "script", "style", "noscript", "template"]):
        tag.decompose()
    root = _content_root(soup)
    if not title and (h1 := root.find("h1") or soup.find("h1")):
        title = h1.get_text(" ", strip=True)
    for tag in [t for t in root.find_all(True) if _is_chrome(t)]:
        if not tag.decomposed:
            tag.decompose()
    for node in root.find_all(string=True):
        if type(node) is NavigableString and node.find_parent("pre") is None:
            node.replace_with(re.sub(r"\s+", " ", node))
    for heading in root.find_all(re.compile(r"^h[1-6]$")):
        heading.insert(0, "#" * int(heading.name[1]) + " ")
    for br in root.find_all("br"):
        br.replace_with("\n")
    for cell in root.find_all(["td", "th"]):
        cell.insert_after(" ")
    for block in root.find_all(_HTML_BLOCKS):
        block.insert_before("\n\n")
        block.insert_after("\n\n")
    lines = (line.strip() for line in root.get_text().splitlines())
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return title, text


def _pdf(data: bytes, limits: ExtractionLimits, ocr: OcrOptions) -> tuple[str, tuple[str, ...]]:
    """Title and one text per page, paragraphs and headings recovered from the layout
    (``retrievers.pdf``), scanned pages read by OCR when it is on and Tesseract is installed."""
    from retrievers import ocr as tesseract
    from retrievers.pdf import read_pdf

    reader = None
    if ocr.mode == "auto" and tesseract.installed():
        reader = functools.partial(tesseract.read_pages, options=ocr)
    return read_pdf(data, limits.max_extracted_chars, reader)


def _ocr_missing(ocr: OcrOptions) -> str:
    from retrievers import ocr as tesseract

    if ocr.mode == "off":
        return "OCR is turned off: set ROUTEUR_OCR=auto to read scanned PDFs"
    if not tesseract.installed():
        return f"OCR is not available here: {INSTALL_HINT}"
    return "OCR found no text in them"


def _docx(data: bytes) -> tuple[str, str]:
    """Paragraphs and tables in reading order; title from the properties or the first heading."""
    import docx
    from docx.table import Table

    document = docx.Document(io.BytesIO(data))
    title = document.core_properties.title or ""
    blocks: list[str] = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            blocks.extend(" | ".join(cell.text.strip() for cell in row.cells) for row in item.rows)
            continue
        text = item.text.strip()
        if not text:
            continue
        style = item.style.name if item.style is not None else ""
        if not title and style in ("Title", "Heading 1"):
            title = text
        level = _DOCX_HEADING.match(style)
        blocks.append(f"{'#' * int(level.group(1))} {text}" if level else f"# {text}" if style == "Title" else text)
    return title, "\n\n".join(blocks)

"""Turn an uploaded or local file into plain text and a title, by its extension."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import PurePath

SUPPORTED_EXTENSIONS = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx")


class UnsupportedFileTypeError(ValueError):
    def __init__(self, filename: str):
        super().__init__(
            f"Unsupported file type for '{filename}'. Supported: {', '.join(SUPPORTED_EXTENSIONS)}"
        )


class EmptyDocumentError(ValueError):
    """No text could be extracted: empty, scanned without OCR, or unreadable."""


@dataclass(frozen=True)
class LoadedDocument:
    title: str
    text: str


def load_document(filename: str, data: bytes) -> LoadedDocument:
    suffix = PurePath(filename).suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        raise UnsupportedFileTypeError(filename)
    stem = PurePath(filename).stem
    try:
        if suffix in (".md", ".markdown", ".txt"):
            title, text = _text(data, markdown=suffix != ".txt")
        elif suffix in (".html", ".htm"):
            title, text = _html(data)
        elif suffix == ".pdf":
            title, text = _pdf(data)
        else:
            title, text = _docx(data)
    except (UnicodeDecodeError, ValueError, KeyError, OSError, Exception) as exc:
        if isinstance(exc, EmptyDocumentError):
            raise
        raise EmptyDocumentError(f"Cannot read '{filename}': {type(exc).__name__}: {exc}"[:300]) from exc
    text = text.strip()
    if not text:
        raise EmptyDocumentError(f"No text could be extracted from '{filename}'")
    return LoadedDocument(title=(title or stem).strip()[:300], text=text)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252")


def _text(data: bytes, *, markdown: bool) -> tuple[str, str]:
    text = _decode(data)
    if markdown:
        match = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
        return (match.group(1) if match else ""), text
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return (first if len(first) <= 120 else ""), text


def _html(data: bytes) -> tuple[str, str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else ""
    if not title and (h1 := soup.find("h1")):
        title = h1.get_text(strip=True)
    body = soup.body or soup
    text = body.get_text("\n", strip=True)
    return title, text


def _pdf(data: bytes) -> tuple[str, str]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    title = (reader.metadata.title if reader.metadata and reader.metadata.title else "") or ""
    text = "\n\n".join((page.extract_text() or "") for page in reader.pages)
    return title, text


def _docx(data: bytes) -> tuple[str, str]:
    import docx

    document = docx.Document(io.BytesIO(data))
    title = document.core_properties.title or ""
    paragraphs = []
    for paragraph in document.paragraphs:
        if not paragraph.text.strip():
            continue
        if not title and paragraph.style is not None and paragraph.style.name in ("Title", "Heading 1"):
            title = paragraph.text
        paragraphs.append(paragraph.text)
    for table in document.tables:
        for row in table.rows:
            paragraphs.append(" | ".join(cell.text for cell in row.cells))
    return title, "\n\n".join(paragraphs)

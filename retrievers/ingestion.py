"""Ingestion — load → chunk → embed → upsert — shared by the CLI and the documents API."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from langchain_text_splitters import RecursiveCharacterTextSplitter

from retrievers.base import DocumentStore
from retrievers.loaders import SUPPORTED_EXTENSIONS, LoadedDocument, load_document
from routeur.settings import Settings, get_settings

FILE_NAMESPACE = uuid.UUID("0b7e9d4c-51a3-4c1e-8f62-9d7a3c5e1b24")
MARKDOWN_SEPARATORS = ["\n## ", "\n### ", "\n#### ", "\n\n", "\n", ". ", " ", ""]


@dataclass(frozen=True)
class IngestResult:
    file_id: str
    title: str
    url: str | None
    chunks: int
    seconds: float
    filename: str = ""


@dataclass
class IngestReport:
    results: list[IngestResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def files(self) -> int:
        return len(self.results)

    @property
    def chunks(self) -> int:
        return sum(r.chunks for r in self.results)


def file_id_for(project_id: str, filename: str) -> str:
    """Same project and name → same id, so ingesting a file again replaces it."""
    return str(uuid.uuid5(FILE_NAMESPACE, f"{project_id}\x1f{PurePath(filename).as_posix()}"))


def chunk_text(text: str, *, markdown: bool = False, settings: Settings | None = None) -> list[str]:
    settings = settings or get_settings()
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        separators=MARKDOWN_SEPARATORS if markdown else None,
        keep_separator="start" if markdown else True,
    )
    return [c.strip() for c in splitter.split_text(text) if c.strip()]


def prepare(filename: str, data: bytes, settings: Settings | None = None) -> tuple[LoadedDocument, list[str]]:
    """Parse and chunk (CPU-bound: callers run it in a worker thread)."""
    document = load_document(filename, data)
    markdown = PurePath(filename).suffix.lower() in (".md", ".markdown")
    return document, chunk_text(document.text, markdown=markdown, settings=settings)


async def ingest_bytes(
    store: DocumentStore,
    *,
    project_id: str,
    filename: str,
    data: bytes,
    title: str | None = None,
    url: str | None = None,
    settings: Settings | None = None,
) -> IngestResult:
    started = time.perf_counter()
    document, chunks = await asyncio.to_thread(prepare, filename, data, settings)
    file_id = file_id_for(project_id, filename)
    final_title = title or document.title
    count = await store.upsert_file(project_id=project_id, file_id=file_id, title=final_title, url=url, chunks=chunks)
    return IngestResult(file_id, final_title, url, count, time.perf_counter() - started, filename)


def expand_paths(paths: Iterable[Path]) -> list[tuple[Path, str]]:
    """Files to ingest with their stable names (path relative to the folder given)."""
    found: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in SUPPORTED_EXTENSIONS:
                    found.append((child, child.relative_to(path).as_posix()))
        else:
            found.append((path, path.name))
    return found


async def ingest_paths(
    store: DocumentStore,
    paths: Iterable[Path],
    *,
    project_id: str,
    title: str | None = None,
    url: str | None = None,
    progress: bool = True,
) -> IngestReport:
    from tqdm import tqdm

    started = time.perf_counter()
    files = expand_paths(paths)
    if (title or url) and len(files) > 1:
        raise ValueError("--title and --url apply to a single file")
    report = IngestReport()
    for path, name in tqdm(files, desc="Ingesting", unit="file", disable=not progress):
        report.results.append(
            await ingest_bytes(store, project_id=project_id, filename=name, data=path.read_bytes(), title=title, url=url)
        )
    report.seconds = time.perf_counter() - started
    return report

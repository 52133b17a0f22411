"""Ingestion — load → chunk → embed → upsert — the one path shared by the CLI and the upload API.

A file's id derives from its project and name only, so ingesting the same name again replaces the
earlier version instead of adding a duplicate. Each version keeps its source's name, size, SHA-256
and version number, so a re-upload says what it did: ``created``, ``replaced`` (the previous
version's chunk count given) or ``unchanged`` (same bytes: neither parsed nor embedded again).
What happens to a name already taken is the caller's choice (``OnConflict``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import re
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Literal

from langchain_text_splitters import RecursiveCharacterTextSplitter

from retrievers.base import Chunk, DocumentStore, FileInfo, SourceFile
from retrievers.chunking import CHUNKER_VERSION, chunk_document
from retrievers.loaders import (
    SUPPORTED_EXTENSIONS,
    DocumentTooLargeError,
    EmptyDocumentError,
    ExtractionLimits,
    LoadedDocument,
    SuspiciousArchiveError,
    UnsupportedFileTypeError,
    load_document,
)
from retrievers.ocr import OcrOptions
from routeur.settings import Settings, get_settings

log = logging.getLogger(__name__)

FILE_NAMESPACE = uuid.UUID("0b7e9d4c-51a3-4c1e-8f62-9d7a3c5e1b24")
# Regex separators, coarsest first. Lookarounds keep the text itself: a heading starts its chunk,
# a sentence's final punctuation stays with it.
_SENTENCE = r"(?<=[.!?;])\s+"
TEXT_SEPARATORS = [r"\n{2,}", r"\n", _SENTENCE, r" ", r""]
MARKDOWN_SEPARATORS = [
    r"\n(?=#{1,6} )",
    r"\n(?=```)",
    r"\n(?=(?:\*\*\*+|---+|___+)\n)",
    r"\n{2,}",
    r"\n",
    _SENTENCE,
    r" ",
    r"",
]
_HEADING_ONLY = re.compile(r"^(?:#{1,6} [^\n]*\n*)+$")

OnConflict = Literal["replace", "reject", "rename"]
"""What an upload under a name the project already holds does with different content:
``replace`` the stored version (the default), ``reject`` it (``NameTakenError``), or ``rename``
the new file ``name (2).ext``, the first free name. The same bytes are ``unchanged`` whatever
the choice, so retrying an upload is always safe."""
Outcome = Literal["created", "replaced", "unchanged"]
Stage = Literal["parsing", "embedding"]
MAX_RENAMES = 1000


class NameTakenError(Exception):
    """``on_conflict="reject"``: the project already holds other content under this name."""


@dataclass(frozen=True)
class IngestResult:
    file_id: str
    title: str
    url: str | None
    chunks: int
    seconds: float
    filename: str = ""
    outcome: Outcome = "created"
    previous_chunks: int | None = None
    """The chunk count of the version this one replaced (``replaced`` only)."""
    source: SourceFile | None = None


@dataclass
class IngestReport:
    results: list[IngestResult] = field(default_factory=list)
    seconds: float = 0.0
    failed: dict[str, str] = field(default_factory=dict)
    """Files that could not be read (name → reason); the others were ingested."""

    @property
    def files(self) -> int:
        return len(self.results)

    @property
    def chunks(self) -> int:
        return sum(r.chunks for r in self.results)


def file_id_for(project_id: str, filename: str) -> str:
    """Same project and same name → same id, so ingesting a file again replaces it."""
    return str(uuid.uuid5(FILE_NAMESPACE, f"{project_id}\x1f{PurePath(filename).as_posix()}"))


def chunk_text(text: str, *, markdown: bool = False, settings: Settings | None = None) -> list[str]:
    """Chunks of at most ``settings.chunk_size`` characters, cut at the coarsest boundary that
    fits (Markdown sections, then paragraphs, lines, sentences, words)."""
    settings = settings or get_settings()
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        separators=MARKDOWN_SEPARATORS if markdown else TEXT_SEPARATORS,
        is_separator_regex=True,
        keep_separator="start",
    )
    chunks = [c.strip() for c in splitter.split_text(text) if c.strip()]
    return _attach_lone_headings(chunks) if markdown else chunks


def _attach_lone_headings(chunks: list[str]) -> list[str]:
    """A heading whose section did not fit beside it joins the chunk that follows it."""
    out: list[str] = []
    pending = ""
    for chunk in chunks:
        if _HEADING_ONLY.match(chunk):
            pending = f"{pending}{chunk}\n\n"
            continue
        out.append(pending + chunk)
        pending = ""
    if pending:
        out.append(pending.strip())
    return out


def extraction_limits(settings: Settings) -> ExtractionLimits:
    return ExtractionLimits(
        max_archive_ratio=settings.max_archive_ratio,
        max_archive_bytes=settings.max_archive_bytes,
        max_archive_entries=settings.max_archive_entries,
        max_extracted_chars=settings.max_extracted_chars,
    )


def ocr_options(settings: Settings) -> OcrOptions:
    return OcrOptions(mode=settings.ocr, languages=settings.ocr_languages, max_pages=settings.ocr_max_pages)


def prepare(filename: str, data: bytes, settings: Settings | None = None) -> tuple[LoadedDocument, list[Chunk]]:
    """Parse and chunk one file by its structure (CPU-bound, a PDF takes a while: callers run it
    in a worker thread), within the deployment's limits (``DocumentTooLargeError``,
    ``SuspiciousArchiveError``)."""
    settings = settings or get_settings()
    document = load_document(filename, data, extraction_limits(settings), ocr_options(settings))
    chunks = chunk_document(
        document.pages or document.text,
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        paginated=bool(document.pages),
    )
    if not chunks:
        raise EmptyDocumentError(f"No text could be extracted from '{filename}'")
    if len(chunks) > settings.max_chunks_per_file:
        raise DocumentTooLargeError(
            f"'{filename}' makes {len(chunks)} chunks, over the limit of {settings.max_chunks_per_file} per file: split it"
        )
    return document, chunks


_name_locks: weakref.WeakValueDictionary[tuple[int, str, str], asyncio.Lock] = weakref.WeakValueDictionary()


@asynccontextmanager
async def _name_lock(store: DocumentStore, project_id: str, file_id: str) -> AsyncIterator[None]:
    """One decision-and-write per name at a time in this process: two uploads of one name
    would otherwise both read version n and both write n + 1 (or both take one free name)."""
    key = (id(store), project_id, file_id)
    lock = _name_locks.get(key)
    if lock is None:
        lock = _name_locks[key] = asyncio.Lock()
    async with lock:
        yield


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def renamed(filename: str, n: int) -> str:
    """``guide.pdf`` → ``guide (2).pdf``; the folder part of a path stays as it is."""
    path = PurePath(filename)
    return path.with_name(f"{path.stem} ({n}){path.suffix}").as_posix()


def chunking_of(settings: Settings | None = None) -> str:
    """How files are cut now: the chunker's version and the chunk size and overlap."""
    settings = settings or get_settings()
    return f"v{CHUNKER_VERSION}:{settings.chunk_size}:{settings.chunk_overlap}"


def is_unchanged(existing: FileInfo, sha256: str, title: str | None, url: str | None, chunking: str) -> bool:
    """Same bytes cut the same way, and no new title or URL asked for: the stored version already
    is this file. After a change of ``ROUTEUR_CHUNK_SIZE`` or of the chunker, ingesting the same
    file again cuts it again."""
    return (
        existing.source is not None
        and existing.source.sha256 == sha256
        and existing.source.chunking == chunking
        and title in (None, existing.title)
        and url in (None, existing.url)
    )


def next_version(existing: FileInfo | None) -> int:
    """1 for a new file, one more than the stored version's otherwise (a version stored before
    they were numbered counts as 1)."""
    if existing is None:
        return 1
    return (existing.source.version if existing.source else 1) + 1


async def ingest_bytes(
    store: DocumentStore,
    *,
    project_id: str,
    filename: str,
    data: bytes,
    title: str | None = None,
    url: str | None = None,
    settings: Settings | None = None,
    progress: Callable[[int], None] | None = None,
    on_conflict: OnConflict = "replace",
    on_stage: Callable[[Stage], Awaitable[None]] | None = None,
) -> IngestResult:
    """Load, chunk and store one file under ``file_id_for(project_id, filename)`` (another name
    when ``on_conflict="rename"`` finds it taken), telling what it did (``IngestResult.outcome``).

    Raises ``UnsupportedFileTypeError``, ``EmptyDocumentError``, ... or ``NameTakenError`` before
    touching the store. ``on_stage`` is awaited as parsing, then embedding, starts.
    """
    started = time.perf_counter()
    sha256 = sha256_of(data)
    for attempt in range(1, MAX_RENAMES + 1):
        name = filename if attempt == 1 else renamed(filename, attempt)
        file_id = file_id_for(project_id, name)
        async with _name_lock(store, project_id, file_id):
            existing = await store.get_file(project_id=project_id, file_id=file_id)
            if existing is not None and is_unchanged(existing, sha256, title, url, chunking_of(settings)):
                if progress:
                    progress(existing.chunks)
                return IngestResult(
                    file_id, existing.title, existing.url, existing.chunks, time.perf_counter() - started, name,
                    outcome="unchanged", source=existing.source,
                )  # fmt: skip
            if existing is not None and on_conflict == "reject":
                raise NameTakenError(
                    f"'{name}' already exists in project '{project_id}' with other content: upload with "
                    "on_conflict=replace to replace it or on_conflict=rename to keep both"
                )
            if existing is not None and on_conflict == "rename":
                continue
            if on_stage:
                await on_stage("parsing")
            prepared = await asyncio.to_thread(prepare, name, data, settings)
            if on_stage:
                await on_stage("embedding")
            result = await store_prepared(
                store, prepared, project_id=project_id, filename=name, title=title, url=url, started=started,
                progress=progress, source=SourceFile(name, len(data), sha256, next_version(existing), chunking_of(settings)),
            )  # fmt: skip
            if existing is None:
                return result
            return dataclasses.replace(result, outcome="replaced", previous_chunks=existing.chunks)
    raise NameTakenError(f"No free name for '{filename}' after {MAX_RENAMES} attempts in project '{project_id}'")


async def store_prepared(
    store: DocumentStore,
    prepared: tuple[LoadedDocument, list[str]],
    *,
    project_id: str,
    filename: str,
    title: str | None,
    url: str | None,
    started: float,
    progress: Callable[[int], None] | None = None,
    source: SourceFile | None = None,
) -> IngestResult:
    document, chunks = prepared
    file_id = file_id_for(project_id, filename)
    final_title = title or document.title
    count = await store.upsert_file(
        project_id=project_id,
        file_id=file_id,
        title=final_title,
        url=url,
        chunks=chunks,
        progress=progress,
        source=source,
    )
    return IngestResult(file_id, final_title, url, count, time.perf_counter() - started, filename, source=source)


def expand_paths(paths: Iterable[Path]) -> list[tuple[Path, str]]:
    """Files to ingest with their stable names: a file's own name, or its path inside the folder
    given (so ``docs/a/x.md`` and ``docs/b/x.md`` stay two files)."""
    found: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in SUPPORTED_EXTENSIONS:
                    found.append((child, child.relative_to(path).as_posix()))
        elif path.exists():
            found.append((path, path.name))
        else:
            raise FileNotFoundError(f"No such file or folder: {path}")
    return found


async def ingest_paths(
    store: DocumentStore,
    paths: Iterable[Path],
    *,
    project_id: str,
    title: str | None = None,
    url: str | None = None,
    progress: bool = True,
    settings: Settings | None = None,
) -> IngestReport:
    """Ingest files and folders (recursively, supported extensions only), with a progress bar
    of files and one of chunks.

    The next file is parsed in a worker thread while the current one is embedded, so the model
    never waits for a parser. A file whose stored version has the same bytes is left
    ``unchanged``; one that cannot be read is recorded in ``report.failed`` and the others go
    on; a store failure stops the run.
    """
    from tqdm import tqdm

    started = time.perf_counter()
    files = expand_paths(paths)
    names = [name for _, name in files]
    if duplicates := sorted({n for n in names if names.count(n) > 1}):
        raise ValueError(f"Several files would be stored under the same name: {', '.join(duplicates)}")
    if (title or url) and len(files) > 1:
        raise ValueError("A title or URL applies to a single file")
    report = IngestReport()

    def read_and_prepare(path: Path, name: str) -> tuple[bytes, tuple[LoadedDocument, list[Chunk]]]:
        data = path.read_bytes()
        return data, prepare(name, data, settings)

    def parse(index: int) -> asyncio.Future:
        path, name = files[index]
        return asyncio.ensure_future(asyncio.to_thread(read_and_prepare, path, name))

    with (
        tqdm(total=len(files), desc="Ingesting", unit="file", disable=not progress, position=0) as files_bar,
        tqdm(desc="Chunks", unit="chunk", disable=not progress, position=1) as chunks_bar,
    ):
        upcoming = parse(0) if files else None
        try:
            for index, (_, name) in enumerate(files):
                file_started = time.perf_counter()
                files_bar.set_postfix_str(name, refresh=False)
                current, upcoming = upcoming, parse(index + 1) if index + 1 < len(files) else None
                try:
                    data, prepared = await current
                except (UnsupportedFileTypeError, EmptyDocumentError, DocumentTooLargeError, SuspiciousArchiveError) as exc:
                    report.failed[name] = str(exc)
                    log.warning("Skipped %s: %s", name, exc)
                    files_bar.update(1)
                    continue
                chunks_bar.total = (chunks_bar.total or 0) + len(prepared[1])
                sha256 = sha256_of(data)
                file_id = file_id_for(project_id, name)
                async with _name_lock(store, project_id, file_id):
                    existing = await store.get_file(project_id=project_id, file_id=file_id)
                    if existing is not None and is_unchanged(existing, sha256, title, url, chunking_of(settings)):
                        chunks_bar.update(len(prepared[1]))
                        result = IngestResult(
                            file_id, existing.title, existing.url, existing.chunks, time.perf_counter() - file_started, name,
                            outcome="unchanged", source=existing.source,
                        )  # fmt: skip
                    else:
                        result = await store_prepared(
                            store, prepared, project_id=project_id, filename=name, title=title, url=url,
                            started=file_started, progress=chunks_bar.update,
                            source=SourceFile(name, len(data), sha256, next_version(existing), chunking_of(settings)),
                        )  # fmt: skip
                        if existing is not None:
                            result = dataclasses.replace(result, outcome="replaced", previous_chunks=existing.chunks)
                report.results.append(result)
                files_bar.update(1)
        finally:
            if upcoming is not None:
                upcoming.cancel()
    report.seconds = time.perf_counter() - started
    return report

"""What both Qdrant backends (the embedded engine and a server) store and how they rank, defined
once so the two give the same points and the same order on the same data.

A file version is written under a *generation* (its content digest) while its points carry the
``STAGED`` tenant key, so no search, listing or IDF statistic sees them. Publishing it is three
small steps recorded by a commit marker point: delete the file's other generations, relabel the
staged points to their project (one update: all of them appear at once), drop the marker. A
process killed anywhere leaves either staged points (an unfinished write: deleted at start-up) or
a marker (a decided commit: finished at start-up), never a mix of two versions.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from retrievers.base import Chunk, FileInfo, Hit, SourceFile

DENSE = "dense"
SPARSE = "sparse"
POINT_NAMESPACE = uuid.UUID("6f1c8a52-3c2e-4f0b-9a57-2b8d0e6f4a10")
MARKER_NAMESPACE = uuid.UUID("3d0e4b8a-7c1f-4e29-b6a5-81f2c9d07e33")
RRF_K = 60
PREFETCH_FACTOR = 4
MIN_PREFETCH = 20
SCROLL_PAGE = 1024
STAGED = "\x00staged"
"""Tenant key of points written but not yet published: no project filter ever matches it."""
COMMITTING = "\x00committing"
"""Tenant key of commit markers: a generation decided to replace its file's current version."""
INDEXED_FIELDS = ("project_id", "file_id", "ingest_id")
FILE_FIELDS = ["project_id", "file_id", "title", "url", "created_at", "source"]


def content_hash(title: str, url: str | None, chunks: Sequence[Chunk], source: SourceFile | None = None) -> str:
    """The generation of a version; its source description is part of it (without one, the
    digest is the one earlier versions were written under)."""
    parts: list[Any] = [title, url, [[c.text, c.section, c.page] for c in chunks]]
    if source is not None:
        parts.append(source_payload(source))
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:32]


def source_payload(source: SourceFile) -> dict[str, Any]:
    return {"filename": source.filename, "size": source.size, "sha256": source.sha256, "version": source.version, "chunking": source.chunking}


def source_from(payload: dict[str, Any]) -> SourceFile | None:
    value = payload.get("source")
    if not isinstance(value, dict):
        return None
    return SourceFile(value["filename"], int(value["size"]), value["sha256"], int(value.get("version", 1)), str(value.get("chunking", "")))


def point_id(project_id: str, file_id: str, ingest_id: str, chunk_index: int) -> str:
    """Deterministic: the same content of the same file always gets the same ids, and a new
    version gets new ones, so writing it never touches the points of the version being served."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{project_id}\x1f{file_id}\x1f{ingest_id}\x1f{chunk_index}"))


def marker_id(project_id: str, file_id: str) -> str:
    return str(uuid.uuid5(MARKER_NAMESPACE, f"{project_id}\x1f{file_id}"))


def prefetch_depth(top_k: int) -> int:
    return max(top_k * PREFETCH_FACTOR, MIN_PREFETCH)


def chunk_payload(
    *,
    project_id: str,
    file_id: str,
    title: str,
    url: str | None,
    index: int,
    chunk: Chunk,
    created_at: str,
    ingest_id: str,
    source: SourceFile | None = None,
) -> dict[str, Any]:
    """A staged chunk: ``staged_for`` keeps the project it is published to."""
    payload = {
        "project_id": STAGED,
        "staged_for": project_id,
        "file_id": file_id,
        "title": title,
        "url": url,
        "chunk_index": index,
        "text": chunk.text,
        "section": chunk.section,
        "page": chunk.page,
        "created_at": created_at,
        "ingest_id": ingest_id,
        "content_hash": ingest_id,
    }
    if source is not None:
        payload["source"] = source_payload(source)
    return payload


def hit(point_id_: object, score: float, payload: dict[str, Any]) -> Hit:
    return Hit(
        point_id=str(point_id_),
        file_id=payload["file_id"],
        project_id=payload["project_id"],
        title=payload.get("title", ""),
        url=payload.get("url"),
        chunk_index=int(payload.get("chunk_index", 0)),
        text=payload.get("text", ""),
        score=float(score),
        section=payload.get("section") or "",
        page=payload.get("page"),
    )


def with_similarity(hits: list[Hit], query: Sequence[float], vectors: Sequence[Sequence[float]]) -> list[Hit]:
    """``hits`` with ``similarity``: the cosine of ``query`` with each hit's dense vector (in the
    same order). Both norms are divided out: stored vectors are unit length under cosine distance,
    a query vector need not be."""
    if not hits:
        return hits
    matrix = np.asarray(vectors, dtype=np.float32)
    q = np.asarray(query, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1) * float(np.linalg.norm(q))
    cosines = np.divide(matrix @ q, norms, out=np.zeros(len(hits), dtype=np.float32), where=norms > 0)
    for found, value in zip(hits, cosines.tolist(), strict=True):
        found["similarity"] = value
    return hits


class FileTally:
    """Aggregates scrolled payloads into one ``FileInfo`` per file, newest first."""

    def __init__(self) -> None:
        self.chunks: dict[str, int] = {}
        self.latest: dict[str, dict[str, Any]] = {}

    def add(self, payload: dict[str, Any]) -> None:
        file_id = payload["file_id"]
        self.chunks[file_id] = self.chunks.get(file_id, 0) + 1
        if file_id not in self.latest or payload.get("created_at", "") > self.latest[file_id].get("created_at", ""):
            self.latest[file_id] = payload

    def files(self) -> list[FileInfo]:
        files = [
            FileInfo(
                file_id=file_id,
                project_id=payload["project_id"],
                title=payload.get("title", ""),
                url=payload.get("url"),
                chunks=self.chunks[file_id],
                created_at=payload.get("created_at", ""),
                source=source_from(payload),
            )
            for file_id, payload in self.latest.items()
        ]
        return sorted(files, key=lambda f: (f.created_at, f.title), reverse=True)

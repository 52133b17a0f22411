"""``DocumentStore`` on Qdrant: embedded (local path) by default, a server or cluster by URL.

One collection holds every project; each point is one chunk with a named dense vector and a
named sparse vector. Every query carries a ``project_id`` filter, so one project's chunks cannot
reach another's answers whatever the query says.

The synchronous client runs in worker threads: local mode is pure Python and a filtered search
over tens of thousands of points takes long enough to stall an event loop (FIELD_NOTES).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any, TypeVar

from qdrant_client import QdrantClient, models

from retrievers import sparse
from retrievers.base import FileInfo, Hit, SearchMode, StoreUnavailableError
from retrievers.embeddings import EmbeddingsInfo
from routeur.settings import Settings

T = TypeVar("T")
DENSE = "dense"
SPARSE = "sparse"
POINT_NAMESPACE = uuid.UUID("6f1c8a52-3c2e-4f0b-9a57-2b8d0e6f4a10")
RRF_K = 60  # the server's default; local mode defaults to 2 (FIELD_NOTES)
PREFETCH_FACTOR = 4
UPSERT_BATCH = 256
SCROLL_PAGE = 1024


def point_id(project_id: str, file_id: str, version: str, chunk_index: int) -> str:
    """Deterministic: the same content gets the same ids, a new version never overwrites the old."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{project_id}\x1f{file_id}\x1f{version}\x1f{chunk_index}"))


def content_version(title: str, url: str | None, chunks: list[str]) -> str:
    return hashlib.sha256(json.dumps([title, url, chunks], ensure_ascii=False).encode()).hexdigest()[:32]


class QdrantDocumentStore:
    def __init__(self, settings: Settings, embeddings: EmbeddingsInfo):
        self._embeddings = embeddings.embeddings
        self.collection = settings.collection or f"chunks_{embeddings.slug}"
        self.location = settings.qdrant_url or str(settings.resolved_qdrant_path())
        self._local = settings.qdrant_url is None
        self._lock = threading.Lock() if self._local else None
        try:
            if self._local:
                path = settings.resolved_qdrant_path()
                if str(path) == ":memory:":
                    self._client = QdrantClient(location=":memory:")
                else:
                    path.mkdir(parents=True, exist_ok=True)
                    self._client = QdrantClient(path=str(path))
            else:
                key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
                self._client = QdrantClient(url=settings.qdrant_url, api_key=key, timeout=30)
        except (RuntimeError, OSError, ValueError) as exc:
            raise StoreUnavailableError(_explain(exc, self.location)) from exc
        self._collection_ready = False

    # -- plumbing ---------------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        def call() -> T:
            with self._lock or nullcontext():
                return fn(*args, **kwargs)

        try:
            return await asyncio.to_thread(call)
        except StoreUnavailableError:
            raise
        except Exception as exc:
            if _is_connection_error(exc):
                raise StoreUnavailableError(f"Qdrant at {self.location} is unavailable: {exc}") from exc
            raise

    def _has_collection(self) -> bool:
        if not self._collection_ready:
            self._collection_ready = self._client.collection_exists(self.collection)
        return self._collection_ready

    def _create_collection(self, size: int) -> None:
        if self._has_collection():
            return
        self._client.create_collection(
            self.collection,
            vectors_config={DENSE: models.VectorParams(size=size, distance=models.Distance.COSINE)},
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
        )
        if not self._local:  # a no-op in local mode, where filters are checked in Python
            for field in ("project_id", "file_id", "version"):
                self._client.create_payload_index(self.collection, field, models.PayloadSchemaType.KEYWORD)
        self._collection_ready = True

    @staticmethod
    def _filter(project_id: str, file_ids: list[str] | None = None, **equals: str) -> models.Filter:
        must: list[models.Condition] = [models.FieldCondition(key="project_id", match=models.MatchValue(value=project_id))]
        if file_ids:
            must.append(models.FieldCondition(key="file_id", match=models.MatchAny(any=list(file_ids))))
        must.extend(models.FieldCondition(key=k, match=models.MatchValue(value=v)) for k, v in equals.items())
        return models.Filter(must=must)

    # -- writes -----------------------------------------------------------------------------

    async def upsert_file(self, *, project_id: str, file_id: str, title: str, url: str | None, chunks: list[str]) -> int:
        """New version first, then the old one goes: a failed write leaves the old version whole."""
        if not chunks:
            raise ValueError("A file needs at least one chunk")
        version = content_version(title, url, chunks)
        if await self._run(self._count, self._filter(project_id, [file_id], version=version)) == len(chunks):
            await self._run(self._delete_other_versions, project_id, file_id, version)
            return len(chunks)
        dense = await self._embeddings.aembed_documents(chunks)
        created_at = datetime.now(UTC).isoformat(timespec="seconds")
        points = [
            models.PointStruct(
                id=point_id(project_id, file_id, version, index),
                vector={DENSE: vector, SPARSE: _sparse(sparse.encode_document(f"{title}\n{text}"))},
                payload={
                    "project_id": project_id,
                    "file_id": file_id,
                    "title": title,
                    "url": url,
                    "chunk_index": index,
                    "text": text,
                    "created_at": created_at,
                    "version": version,
                },
            )
            for index, (text, vector) in enumerate(zip(chunks, dense, strict=True))
        ]
        await self._run(self._write_version, points, project_id, file_id, version, len(dense[0]))
        return len(points)

    def _write_version(self, points: list[models.PointStruct], project_id: str, file_id: str, version: str, size: int) -> None:
        self._create_collection(size)
        try:
            for start in range(0, len(points), UPSERT_BATCH):
                self._client.upsert(self.collection, points=points[start : start + UPSERT_BATCH], wait=True)
        except Exception:
            selector = self._filter(project_id, [file_id], version=version)
            self._client.delete(self.collection, points_selector=models.FilterSelector(filter=selector), wait=True)
            raise
        self._delete_other_versions(project_id, file_id, version)

    def _delete_other_versions(self, project_id: str, file_id: str, version: str) -> None:
        stale = self._filter(project_id, [file_id])
        stale.must_not = [models.FieldCondition(key="version", match=models.MatchValue(value=version))]
        self._client.delete(self.collection, points_selector=models.FilterSelector(filter=stale), wait=True)

    def _count(self, selector: models.Filter) -> int:
        if not self._has_collection():
            return 0
        return self._client.count(self.collection, count_filter=selector, exact=True).count

    async def delete_file(self, *, project_id: str, file_id: str) -> int:
        def delete() -> int:
            if not self._has_collection():
                return 0
            selector = self._filter(project_id, [file_id])
            count = self._count(selector)
            self._client.delete(self.collection, points_selector=models.FilterSelector(filter=selector), wait=True)
            return count

        return await self._run(delete)

    # -- reads ------------------------------------------------------------------------------

    async def search(
        self,
        query: str,
        *,
        project_id: str,
        sources: list[str] | None = None,
        top_k: int = 5,
        mode: SearchMode = "hybrid",
    ) -> list[Hit]:
        query_filter = self._filter(project_id, sources)
        dense = await self._embeddings.aembed_query(query) if mode in ("dense", "hybrid") else None
        sparse_query = _sparse(sparse.encode_query(query)) if mode in ("sparse", "hybrid") else None
        if mode == "sparse" and not sparse_query.indices:
            return []

        def search() -> list[models.ScoredPoint]:
            if not self._has_collection():
                return []
            if mode == "dense":
                kwargs: dict[str, Any] = {"query": dense, "using": DENSE}
            elif mode == "sparse":
                kwargs = {"query": sparse_query, "using": SPARSE}
            else:
                prefetch = [models.Prefetch(query=dense, using=DENSE, filter=query_filter, limit=top_k * PREFETCH_FACTOR)]
                if sparse_query.indices:
                    prefetch.append(
                        models.Prefetch(query=sparse_query, using=SPARSE, filter=query_filter, limit=top_k * PREFETCH_FACTOR)
                    )
                kwargs = {"prefetch": prefetch, "query": models.RrfQuery(rrf=models.Rrf(k=RRF_K))}
            return self._client.query_points(
                self.collection, query_filter=query_filter, limit=top_k, with_payload=True, **kwargs
            ).points

        points = await self._run(search)
        return [_hit(p) for p in points]

    async def list_files(self, *, project_id: str) -> list[FileInfo]:
        return await self._run(self._files, self._filter(project_id))

    async def get_file(self, *, project_id: str, file_id: str) -> FileInfo | None:
        files = await self._run(self._files, self._filter(project_id, [file_id]))
        return files[0] if files else None

    def _files(self, selector: models.Filter) -> list[FileInfo]:
        if not self._has_collection():
            return []
        found: dict[str, FileInfo] = {}
        offset = None
        fields = ["project_id", "file_id", "title", "url", "created_at"]
        while True:
            points, offset = self._client.scroll(
                self.collection, scroll_filter=selector, limit=SCROLL_PAGE, offset=offset, with_payload=fields, with_vectors=False
            )
            for p in points:
                pl = p.payload or {}
                known = found.get(pl["file_id"])
                found[pl["file_id"]] = FileInfo(
                    file_id=pl["file_id"],
                    project_id=pl["project_id"],
                    title=pl.get("title", ""),
                    url=pl.get("url"),
                    chunks=(known.chunks if known else 0) + 1,
                    created_at=pl.get("created_at", ""),
                )
            if offset is None:
                break
        return sorted(found.values(), key=lambda f: (f.created_at, f.title), reverse=True)

    async def ping(self) -> None:
        await self._run(self._client.get_collections)

    def close(self) -> None:
        self._client.close()


def _sparse(vector: sparse.SparseVector) -> models.SparseVector:
    return models.SparseVector(indices=vector.indices, values=vector.values)


def _hit(point: models.ScoredPoint) -> Hit:
    pl = point.payload or {}
    return Hit(
        point_id=str(point.id),
        file_id=pl["file_id"],
        project_id=pl["project_id"],
        title=pl.get("title", ""),
        url=pl.get("url"),
        chunk_index=int(pl.get("chunk_index", 0)),
        text=pl.get("text", ""),
        score=float(point.score),
    )


def _is_connection_error(exc: Exception) -> bool:
    name = type(exc).__name__
    return isinstance(exc, ConnectionError | TimeoutError) or name in {"ResponseHandlingException", "ConnectError", "ConnectTimeout"}


def _explain(exc: Exception, location: str) -> str:
    if "already accessed by another instance" in str(exc):
        return (
            f"The embedded Qdrant store at {location} is open in another process (a running server?). "
            "Stop that process, or run a Qdrant server and set ROUTEUR_QDRANT_URL for several processes."
        )
    return f"Cannot open the Qdrant store at {location}: {exc}"

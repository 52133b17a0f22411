"""``DocumentStore`` on Qdrant: embedded (a local path) by default, a server or cluster by URL.

One collection holds every project; each point is one chunk with a named dense vector and a named
sparse vector. Every query carries a ``project_id`` filter, so one project's chunks cannot reach
another's answers whatever the query says.

The synchronous client runs in worker threads: local mode is pure Python, and a filtered search
over tens of thousands of points takes long enough to stall an event loop (hundreds of milliseconds). Local
mode is not thread-safe, so its calls take a lock.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import uuid
import weakref
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from langchain_core.embeddings import Embeddings
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from retrievers.base import Chunk, FileInfo, Hit, SearchMode, StoreUnavailableError
from retrievers.embeddings import embeddings_slug, vector_size
from retrievers.sparse import SparseEncoder, SparseVector
from routeur.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
DENSE = "dense"
SPARSE = "sparse"
POINT_NAMESPACE = uuid.UUID("6f1c8a52-3c2e-4f0b-9a57-2b8d0e6f4a10")
RRF_K = 60  # the server's default; qdrant-client's local mode would use 2
PREFETCH_FACTOR = 4
MIN_PREFETCH = 20
SCROLL_PAGE = 1024
INDEXED_FIELDS = ("project_id", "file_id", "ingest_id")


def point_id(project_id: str, file_id: str, ingest_id: str, chunk_index: int) -> str:
    """Includes the ingest id: a new version gets new points instead of overwriting the old ones
    in place, so a write that fails halfway can be undone without touching the old version."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{project_id}\x1f{file_id}\x1f{ingest_id}\x1f{chunk_index}"))


def content_hash(title: str, url: str | None, chunks: Sequence[Chunk]) -> str:
    parts = [[c.text, c.section, c.page] for c in chunks]
    return hashlib.sha256(json.dumps([title, url, parts], ensure_ascii=False).encode()).hexdigest()[:32]


class QdrantDocumentStore:
    """Chunks of every project in one Qdrant collection (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        embeddings: Embeddings,
        sparse_encoder: SparseEncoder | None = None,
        *,
        batch_size: int = 64,
    ):
        self._embeddings = embeddings
        self._sparse = sparse_encoder or SparseEncoder()
        self.batch_size = batch_size
        self.collection = settings.collection or f"chunks_{embeddings_slug(settings)}"
        self.local = settings.qdrant_url is None
        self.location = str(settings.resolved_qdrant_path()) if self.local else str(settings.qdrant_url)
        self._client_lock = threading.Lock() if self.local else None
        self._file_locks: weakref.WeakValueDictionary[tuple[str, str], anyio.Lock] = weakref.WeakValueDictionary()
        self._collection_ready = False
        self._client = self._open(settings)

    def _open(self, settings: Settings) -> QdrantClient:
        try:
            if not self.local:
                key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
                return QdrantClient(url=settings.qdrant_url, api_key=key, timeout=30)
            if self.location == ":memory:":
                return QdrantClient(location=":memory:")
            settings.resolved_qdrant_path().mkdir(parents=True, exist_ok=True)
            return QdrantClient(path=self.location)
        except (RuntimeError, OSError, ValueError) as exc:
            if "already accessed by another instance" in str(exc):
                raise StoreUnavailableError(
                    f"The embedded Qdrant store at {self.location} is open in another process. Stop that "
                    "process, or run a Qdrant server and set ROUTEUR_QDRANT_URL so several processes share it."
                ) from exc
            raise StoreUnavailableError(f"Cannot open the Qdrant store at {self.location}: {exc}") from exc

    # -- plumbing -----------------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a client call in a worker thread. A cancelled caller first waits for the call it
        started to finish, so a write never lands after the rollback that follows it."""

        def call() -> T:
            with self._client_lock or nullcontext():
                return fn(*args, **kwargs)

        task = asyncio.ensure_future(anyio.to_thread.run_sync(call))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            with anyio.CancelScope(shield=True):
                await asyncio.wait([task])
            if not task.cancelled() and task.exception() is not None:
                log.warning("A store call failed after its caller was cancelled: %s", task.exception())
            raise
        except (ResponseHandlingException, ConnectionError, TimeoutError) as exc:
            raise StoreUnavailableError(f"Qdrant at {self.location} is unavailable: {exc}") from exc
        except UnexpectedResponse as exc:
            if exc.status_code in (401, 403) or (exc.status_code or 0) >= 500:
                raise StoreUnavailableError(f"Qdrant at {self.location} refused the request: {exc}") from exc
            raise

    async def _ensure_collection(self) -> None:
        """Create the collection on first use; refuse one whose vectors have another size."""
        if self._collection_ready:
            return
        size = await anyio.to_thread.run_sync(vector_size, self._embeddings)
        await self._run(self._create_or_check, size)
        self._collection_ready = True

    def _create_or_check(self, size: int) -> None:
        if self._client.collection_exists(self.collection):
            vectors = self._client.get_collection(self.collection).config.params.vectors
            existing = vectors.get(DENSE) if isinstance(vectors, dict) else None
            if existing is None or existing.size != size:
                found = existing.size if existing else "no dense"
                raise ValueError(
                    f"Collection '{self.collection}' holds {found}-d vectors but the embeddings give {size}-d: "
                    "set ROUTEUR_COLLECTION to another name or use the model the collection was built with."
                )
            return
        try:
            self._client.create_collection(
                self.collection,
                vectors_config={DENSE: models.VectorParams(size=size, distance=models.Distance.COSINE)},
                sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            )
        except UnexpectedResponse as exc:
            if exc.status_code != 409:  # another process created it first
                raise
            self._create_or_check(size)
            return
        if not self.local:  # local mode checks filters in Python and warns that indexes do nothing
            for field in INDEXED_FIELDS:
                # Every query filters on project_id: marked as the tenant key, the server groups a
                # project's points together on disk.
                tenant = field == "project_id"
                schema = models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=tenant)
                self._client.create_payload_index(self.collection, field, schema)

    def _file_lock(self, project_id: str, file_id: str) -> anyio.Lock:
        """Writes to one file run one at a time, or two versions could each delete the other."""
        key = (project_id, file_id)
        lock = self._file_locks.get(key)
        if lock is None:
            lock = self._file_locks[key] = anyio.Lock()
        return lock

    @staticmethod
    def _filter(project_id: str, file_ids: list[str] | None = None, **equals: str) -> models.Filter:
        must: list[models.Condition] = [
            models.FieldCondition(key="project_id", match=models.MatchValue(value=project_id))
        ]
        if file_ids:
            must.append(models.FieldCondition(key="file_id", match=models.MatchAny(any=list(file_ids))))
        must.extend(models.FieldCondition(key=k, match=models.MatchValue(value=v)) for k, v in equals.items())
        return models.Filter(must=must)

    def _count(self, selector: models.Filter) -> int:
        return self._client.count(self.collection, count_filter=selector, exact=True).count

    def _delete(self, selector: models.Filter) -> None:
        self._client.delete(self.collection, points_selector=models.FilterSelector(filter=selector), wait=True)

    # -- writes -------------------------------------------------------------------------------

    async def upsert_file(
        self, *, project_id: str, file_id: str, title: str, url: str | None, chunks: Sequence[Chunk]
    ) -> int:
        """Write the new version under a fresh ``ingest_id``, then delete the file's other points.

        Until the last batch is written the old version is untouched and still served; if any
        batch fails (embedding or write), the new points written so far are deleted and the error
        is raised. Should deleting the old version then fail, the error is raised too and the next
        ingest of the file removes it. An unchanged file (same title, URL and chunks) is left as it is.
        """
        if not chunks:
            raise ValueError("A file needs at least one chunk")
        await self._ensure_collection()
        digest = content_hash(title, url, chunks)
        async with self._file_lock(project_id, file_id):
            if await self._run(self._is_stored, project_id, file_id, digest, len(chunks)):
                return len(chunks)
            ingest_id = uuid.uuid4().hex
            try:
                await self._write(project_id, file_id, title, url, chunks, ingest_id, digest)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self._rollback(project_id, file_id, ingest_id)
                raise
            stale = self._filter(project_id, [file_id])
            stale.must_not = [models.FieldCondition(key="ingest_id", match=models.MatchValue(value=ingest_id))]
            await self._run(self._delete, stale)
        return len(chunks)

    def _is_stored(self, project_id: str, file_id: str, digest: str, chunks: int) -> bool:
        return (
            self._count(self._filter(project_id, [file_id])) == chunks
            and self._count(self._filter(project_id, [file_id], content_hash=digest)) == chunks
        )

    async def _write(
        self,
        project_id: str,
        file_id: str,
        title: str,
        url: str | None,
        chunks: Sequence[Chunk],
        ingest_id: str,
        digest: str,
    ) -> None:
        created_at = datetime.now(UTC).isoformat(timespec="seconds")
        for start in range(0, len(chunks), self.batch_size):
            batch = chunks[start : start + self.batch_size]
            dense = await self._embeddings.aembed_documents([chunk.text for chunk in batch])
            points = [
                models.PointStruct(
                    id=point_id(project_id, file_id, ingest_id, index),
                    vector={
                        DENSE: vector,
                        SPARSE: _qdrant_sparse(self._sparse.encode_document(chunk.indexed_text(title))),
                    },
                    payload={
                        "project_id": project_id,
                        "file_id": file_id,
                        "title": title,
                        "url": url,
                        "chunk_index": index,
                        "text": chunk.text,
                        "section": chunk.section,
                        "page": chunk.page,
                        "created_at": created_at,
                        "ingest_id": ingest_id,
                        "content_hash": digest,
                    },
                )
                for index, chunk, vector in zip(range(start, start + len(batch)), batch, dense, strict=True)
            ]
            await self._run(self._client.upsert, self.collection, points=points, wait=True)

    async def _rollback(self, project_id: str, file_id: str, ingest_id: str) -> None:
        try:
            await self._run(self._delete, self._filter(project_id, [file_id], ingest_id=ingest_id))
        except Exception:
            log.exception("Could not remove partial write %s of file %s; re-ingesting it will", ingest_id, file_id)

    async def delete_file(self, *, project_id: str, file_id: str) -> int:
        await self._ensure_collection()

        def delete() -> int:
            selector = self._filter(project_id, [file_id])
            count = self._count(selector)
            if count:
                self._delete(selector)
            return count

        async with self._file_lock(project_id, file_id):
            return await self._run(delete)

    # -- reads --------------------------------------------------------------------------------

    async def search(
        self,
        query: str,
        *,
        project_id: str,
        sources: list[str] | None = None,
        top_k: int = 5,
        mode: SearchMode = "hybrid",
    ) -> list[Hit]:
        if mode not in ("dense", "sparse", "hybrid"):
            raise ValueError(f"Unknown search mode {mode!r}: use dense, sparse or hybrid")
        if top_k < 1:
            return []
        await self._ensure_collection()
        query_filter = self._filter(project_id, sources)
        sparse_query = _qdrant_sparse(self._sparse.encode_query(query))
        if mode == "sparse":
            if not sparse_query.indices:
                return []
            kwargs: dict[str, Any] = {"query": sparse_query, "using": SPARSE}
        else:
            dense = await self._embeddings.aembed_query(query)
            if mode == "dense":
                kwargs = {"query": dense, "using": DENSE}
            else:
                depth = max(top_k * PREFETCH_FACTOR, MIN_PREFETCH)
                prefetch = [models.Prefetch(query=dense, using=DENSE, filter=query_filter, limit=depth)]
                if sparse_query.indices:
                    prefetch.append(models.Prefetch(query=sparse_query, using=SPARSE, filter=query_filter, limit=depth))
                kwargs = {"prefetch": prefetch, "query": models.RrfQuery(rrf=models.Rrf(k=RRF_K))}
        response = await self._run(
            self._client.query_points,
            self.collection,
            query_filter=query_filter,
            limit=top_k,
            with_payload=True,
            **kwargs,
        )
        return [_hit(point) for point in response.points]

    async def list_files(self, *, project_id: str) -> list[FileInfo]:
        await self._ensure_collection()
        return await self._run(self._files, self._filter(project_id))

    async def get_file(self, *, project_id: str, file_id: str) -> FileInfo | None:
        await self._ensure_collection()
        files = await self._run(self._files, self._filter(project_id, [file_id]))
        return files[0] if files else None

    def _files(self, selector: models.Filter) -> list[FileInfo]:
        """One entry per file, aggregated from its points; newest first."""
        chunks: dict[str, int] = {}
        latest: dict[str, dict[str, Any]] = {}
        offset = None
        fields = ["project_id", "file_id", "title", "url", "created_at"]
        while True:
            points, offset = self._client.scroll(
                self.collection,
                scroll_filter=selector,
                limit=SCROLL_PAGE,
                offset=offset,
                with_payload=fields,
                with_vectors=False,
            )
            for point in points:
                payload = point.payload or {}
                file_id = payload["file_id"]
                chunks[file_id] = chunks.get(file_id, 0) + 1
                if file_id not in latest or payload.get("created_at", "") > latest[file_id].get("created_at", ""):
                    latest[file_id] = payload
            if offset is None:
                break
        files = [
            FileInfo(
                file_id=file_id,
                project_id=payload["project_id"],
                title=payload.get("title", ""),
                url=payload.get("url"),
                chunks=chunks[file_id],
                created_at=payload.get("created_at", ""),
            )
            for file_id, payload in latest.items()
        ]
        return sorted(files, key=lambda f: (f.created_at, f.title), reverse=True)

    async def ping(self) -> None:
        try:
            await self._run(self._client.get_collections)
        except StoreUnavailableError:
            raise
        except Exception as exc:
            raise StoreUnavailableError(f"Qdrant at {self.location} cannot serve queries: {exc}") from exc

    def close(self) -> None:
        with self._client_lock or nullcontext():
            self._client.close()


def _qdrant_sparse(vector: SparseVector) -> models.SparseVector:
    return models.SparseVector(indices=vector.indices, values=vector.values)


def _hit(point: models.ScoredPoint) -> Hit:
    payload = point.payload or {}
    return Hit(
        point_id=str(point.id),
        file_id=payload["file_id"],
        project_id=payload["project_id"],
        title=payload.get("title", ""),
        url=payload.get("url"),
        chunk_index=int(payload.get("chunk_index", 0)),
        text=payload.get("text", ""),
        score=float(point.score),
        section=payload.get("section") or "",
        page=payload.get("page"),
    )

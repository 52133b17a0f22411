"""``DocumentStore`` on a Qdrant server or cluster by URL (``ROUTEUR_QDRANT_URL``), with qdrant-client.

The same schema, write protocol and ranking as the embedded default (``retrievers.edge``), through
``GenerationalStore``. Without a URL this class opens qdrant-client's *local mode* on a path: the
previous embedded engine, kept so ``routeur reindex`` can read old data and so tests can run the
server-path code where no server binary is available (local mode checks filters in Python, point
by point: too slow to serve beyond a few thousand chunks).

The synchronous client runs in worker threads; local mode is not thread-safe, so its calls take a
lock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

import anyio.to_thread
from langchain_core.embeddings import Embeddings
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from retrievers.base import Hit, SearchMode, StoreUnavailableError
from retrievers.embeddings import vector_size
from retrievers.generations import GenerationalStore, NewPoint, Selector
from retrievers.schema import (
    DENSE,
    INDEXED_FIELDS,
    RRF_K,
    SCROLL_PAGE,
    SPARSE,
    content_hash,
    hit,
    point_id,
    prefetch_depth,
    with_similarity,
)
from retrievers.sparse import SparseEncoder, SparseVector
from routeur.settings import Settings

__all__ = ["QdrantDocumentStore", "content_hash", "point_id"]

log = logging.getLogger(__name__)


class QdrantDocumentStore(GenerationalStore):
    """Chunks of every project in one Qdrant collection (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        embeddings: Embeddings,
        sparse_encoder: SparseEncoder | None = None,
        *,
        batch_size: int = 128,
        recover: bool = True,
    ):
        super().__init__(settings, embeddings, sparse_encoder, batch_size=batch_size)
        self.local = settings.qdrant_url is None
        self.location = str(settings.resolved_qdrant_path()) if self.local else str(settings.qdrant_url)
        self._call_lock = self._client_lock = threading.Lock() if self.local else None
        self._collection_ready = False
        self._recover = recover
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
            raise self._unavailable(exc, locked="already accessed by another instance" in str(exc)) from exc

    # -- plumbing -----------------------------------------------------------------------------

    async def _run(self, fn, *args):  # type: ignore[no-untyped-def]
        try:
            return await super()._run(fn, *args)
        except (ResponseHandlingException, ConnectionError, TimeoutError) as exc:
            raise StoreUnavailableError(f"Qdrant at {self.location} is unavailable: {exc}") from exc
        except UnexpectedResponse as exc:
            if exc.status_code in (401, 403) or (exc.status_code or 0) >= 500:
                raise StoreUnavailableError(f"Qdrant at {self.location} refused the request: {exc}") from exc
            raise

    async def _ready(self) -> None:
        if self._collection_ready:
            return
        await self._ensure_collection()
        if self._recover:
            await self._run(lambda: self.recover(drop_staged=self.local))

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
            for field in (*INDEXED_FIELDS, "staged_for"):
                # Every query filters on project_id: marked as the tenant key, the server groups a
                # project's points together on disk.
                tenant = field == "project_id"
                schema = models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=tenant)
                self._client.create_payload_index(self.collection, field, schema)

    # -- engine calls -------------------------------------------------------------------------

    @staticmethod
    def _filter(selector: Selector) -> models.Filter:
        must: list[models.Condition] = [models.FieldCondition(key="project_id", match=models.MatchValue(value=selector.project_id))]
        if selector.file_ids:
            must.append(models.FieldCondition(key="file_id", match=models.MatchAny(any=list(selector.file_ids))))
        must.extend(models.FieldCondition(key=k, match=models.MatchValue(value=v)) for k, v in selector.equals.items())
        must_not: list[models.Condition] = [
            models.FieldCondition(key=k, match=models.MatchValue(value=v)) for k, v in selector.not_equals.items()
        ]
        return models.Filter(must=must, must_not=must_not or None)

    def _engine_upsert(self, points: list[NewPoint]) -> None:
        structs = [
            models.PointStruct(
                id=p.id,
                vector={DENSE: p.dense, SPARSE: models.SparseVector(indices=p.sparse.indices, values=p.sparse.values)},
                payload=p.payload,
            )
            for p in points
        ]
        self._client.upsert(self.collection, points=structs, wait=True)

    def _engine_put_marker(self, marker: str, payload: dict[str, Any]) -> None:
        self._client.upsert(self.collection, points=[models.PointStruct(id=marker, vector={}, payload=payload)], wait=True)

    def _engine_delete_ids(self, ids: list[str]) -> None:
        self._client.delete(self.collection, points_selector=models.PointIdsList(points=list(ids)), wait=True)

    def _engine_delete(self, selector: Selector) -> None:
        self._client.delete(self.collection, points_selector=models.FilterSelector(filter=self._filter(selector)), wait=True)

    def _engine_publish(self, selector: Selector, project_id: str) -> None:
        self._client.set_payload(self.collection, payload={"project_id": project_id}, points=self._filter(selector), wait=True)

    def _engine_count(self, selector: Selector) -> int:
        return self._client.count(self.collection, count_filter=self._filter(selector), exact=True).count

    def _engine_scroll(self, selector: Selector, fields: list[str]) -> Iterator[dict[str, Any]]:
        offset = None
        flt = self._filter(selector)
        while True:
            points, offset = self._client.scroll(
                self.collection, scroll_filter=flt, limit=SCROLL_PAGE, offset=offset, with_payload=fields,
                with_vectors=False,
            )  # fmt: skip
            for point in points:
                yield dict(point.payload or {})
            if offset is None:
                return

    def _engine_search(
        self, mode: SearchMode, dense: list[float] | None, sparse: SparseVector, selector: Selector, top_k: int, similarity: bool = False
    ) -> list[Hit]:
        flt = self._filter(selector)
        # IDF over the whole project (not only the sources asked), as on the embedded engine.
        sparse_params = models.SearchParams(idf=models.IdfCorpusParams(corpus=self._filter(Selector(selector.project_id))))
        sparse_query = models.SparseVector(indices=sparse.indices, values=sparse.values)
        kwargs: dict[str, Any]
        if mode == "sparse":
            kwargs = {"query": sparse_query, "using": SPARSE, "search_params": sparse_params}
        elif mode == "dense":
            kwargs = {"query": dense, "using": DENSE}
        else:
            depth = prefetch_depth(top_k)
            prefetch = [models.Prefetch(query=dense, using=DENSE, filter=flt, limit=depth)]
            if sparse.indices:
                prefetch.append(models.Prefetch(query=sparse_query, using=SPARSE, filter=flt, limit=depth, params=sparse_params))
            kwargs = {"prefetch": prefetch, "query": models.RrfQuery(rrf=models.Rrf(k=RRF_K))}
        vectors = similarity and dense is not None
        response = self._client.query_points(
            self.collection, query_filter=flt, limit=top_k, with_payload=True, with_vectors=[DENSE] if vectors else False, **kwargs
        )
        points = sorted(response.points, key=lambda p: (-p.score, str(p.id)))  # ties in a fixed order, as the embedded store
        hits = [hit(point.id, point.score, point.payload or {}) for point in points]
        if vectors:
            return with_similarity(hits, dense, [point.vector[DENSE] for point in points])  # type: ignore[arg-type,index]
        return hits

    def _engine_ping(self) -> None:
        self._client.get_collections()

    async def ping(self) -> None:
        try:
            await self._run(self._engine_ping)
        except StoreUnavailableError:
            raise
        except Exception as exc:
            raise StoreUnavailableError(f"Qdrant at {self.location} cannot serve queries: {exc}") from exc

    def close(self) -> None:
        with self._client_lock or nullcontext():
            self._client.close()

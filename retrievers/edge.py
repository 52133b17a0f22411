"""``DocumentStore`` on Qdrant's embedded engine (``qdrant-edge-py``): the default, on a path.

It runs the server's own segment code in-process: payload-indexed filters, HNSW, sparse vectors
with IDF, RRF, a write-ahead log. One process holds a path. Every sparse query computes its IDF
over the asking project's points only (an IDF corpus filter), so another project's documents
never shift its scores; measured cost: see the README's performance section.

The HNSW graph is built by ``optimize()``, which blocks for tens of seconds at 100k points: the
store runs it in a background thread once enough points were written since the last build.
Until then new points sit in a plain segment searched exactly, and every filtered search whose
candidates are fewer than the full-scan threshold is exact anyway (faster than a graph there).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from qdrant_edge import (
    AcornSearchParams,
    CountRequest,
    Distance,
    EdgeConfig,
    EdgeOptimizersConfig,
    EdgeShard,
    EdgeSparseVectorParams,
    EdgeVectorParams,
    FieldCondition,
    Filter,
    Fusion,
    HnswIndexConfig,
    IdfParams,
    KeywordIndexParams,
    MatchAny,
    MatchValue,
    Modifier,
    Point,
    Prefetch,
    Query,
    QueryRequest,
    ScrollRequest,
    SearchParams,
    UpdateOperation,
)
from qdrant_edge import SparseVector as EdgeSparse

from retrievers.base import Hit, SearchMode, StoreUnavailableError
from retrievers.embeddings import vector_size
from retrievers.generations import GenerationalStore, NewPoint, Selector
from retrievers.schema import DENSE, INDEXED_FIELDS, RRF_K, SCROLL_PAGE, SPARSE, hit, prefetch_depth, with_similarity
from retrievers.sparse import SparseEncoder, SparseVector
from routeur.settings import Settings

log = logging.getLogger(__name__)

HNSW_M = 16
HNSW_EF_CONSTRUCT = 256
HNSW_EF = 512
"""Measured on the real model (``python -m benchmarks.bench_hnsw``: python-docs-fr's 5,115 chunks
by all-MiniLM-L6-v2, 200 real queries, project filter): recall@10 against exact search 0.995 at
m 16 / ef_construct 256 / hnsw_ef 256, where 128 / 128 gave 0.966; a graph search still takes
well under a millisecond. Raised to 512 for large projects: on 100k points (two projects, real chunks
repeated with perturbed vectors) recall@10 with ACORN is 0.974 at 256 and 0.984 at 512, dense p50
4.2 ms."""
FULL_SCAN_KB = 15_000
"""Below this many KB of candidate vectors (10,000 of 384 floats) a filtered search scans exactly:
measured as fast as the graph at ``HNSW_EF`` up to that size (under a millisecond), with exact recall."""
ACORN_MAX_SELECTIVITY = 1.0
"""Filtered graph searches use ACORN (neighbours of neighbours when a neighbour fails the filter)
for any share of the store. Measured on a 30,000-point store written through the staged write
protocol (two projects of 15,000, ~6 near-duplicate copies per chunk): recall@10 of the filtered
graph search 0.76-0.78 at hnsw_ef 256 and 0.84-0.85 at 1024, the same graph unfiltered 0.98,
with ACORN 1.00. The engine's default (ACORN only under 40 % selectivity) leaves a project of half
the store to plain filtered traversal, which strands on links to the other project's points."""
OPTIMIZE_AFTER = 20_000
"""Points written since the last graph build that start a background ``optimize()``."""


def edge_config(
    size: int,
    *,
    m: int = HNSW_M,
    ef_construct: int = HNSW_EF_CONSTRUCT,
    full_scan_kb: int = FULL_SCAN_KB,
    optimizers: EdgeOptimizersConfig | None = None,
) -> EdgeConfig:
    """The shard's schema and index settings (keyword arguments let the benchmarks vary them)."""
    return EdgeConfig(
        vectors={DENSE: EdgeVectorParams(size=size, distance=Distance.Cosine)},
        sparse_vectors={SPARSE: EdgeSparseVectorParams(modifier=Modifier.Idf)},
        hnsw_config=HnswIndexConfig(m=m, ef_construct=ef_construct, full_scan_threshold=full_scan_kb),
        optimizers=optimizers,
    )


def dense_search_params() -> SearchParams:
    """Graph search settings of every dense query (the benchmarks measure recall with these)."""
    return SearchParams(hnsw_ef=HNSW_EF, acorn=AcornSearchParams(enable=True, max_selectivity=ACORN_MAX_SELECTIVITY))


class EdgeDocumentStore(GenerationalStore):
    """Chunks of every project in one embedded shard (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        embeddings: Embeddings,
        sparse_encoder: SparseEncoder | None = None,
        *,
        batch_size: int = 128,
        optimize_after: int = OPTIMIZE_AFTER,
    ):
        super().__init__(settings, embeddings, sparse_encoder, batch_size=batch_size)
        self.path = settings.resolved_edge_path() / self.collection
        self.location = str(self.path)
        self.optimize_after = optimize_after
        self._written = 0
        self._optimizer: threading.Thread | None = None
        self._optimizer_lock = threading.Lock()
        self._size = vector_size(embeddings)
        self._shard = self._open()
        self.recover()

    def _open(self) -> EdgeShard:
        exists = self.path.is_dir() and any(self.path.iterdir())
        try:
            if exists:
                shard = EdgeShard.load(str(self.path))
            else:
                self.path.mkdir(parents=True, exist_ok=True)
                shard = EdgeShard.create(str(self.path), edge_config(self._size))
                for name in INDEXED_FIELDS + ("staged_for",):
                    shard.update(UpdateOperation.create_field_index(name, KeywordIndexParams(is_tenant=name == "project_id")))
        except Exception as exc:
            raise self._unavailable(exc, locked="WouldBlock" in str(exc)) from exc
        if not exists or self._check_size(shard):
            self._warn_of_other_collections()
        return shard

    def _warn_of_other_collections(self) -> None:
        """An empty collection beside filled ones: most likely the embedding model changed (each
        model has its own collection), and searches would silently find nothing ingested before."""
        parent = self.path.parent
        others = sorted(p.name for p in parent.iterdir() if p.is_dir() and p != self.path and any(p.iterdir())) if parent.is_dir() else []
        if others:
            log.warning(
                "Store '%s' is empty, while %s (another embedding model's) exist beside it: searches see only "
                "what is ingested with the current model. Ingest the documents again, or set the embedding "
                "settings (ROUTEUR_EMBEDDINGS_LOCAL_MODEL, ROUTEUR_COLLECTION) back.",
                self.collection,
                ", ".join(f"'{name}'" for name in others),
            )

    def _check_size(self, shard: EdgeShard) -> bool:
        """Refuses vectors of another size; True when the shard holds no point at all."""
        probe = shard.scroll(ScrollRequest(limit=1, with_payload=False, with_vector=[DENSE]))[0]
        if probe:
            found = len(probe[0].vector[DENSE])
            if found != self._size:
                shard.close()
                raise ValueError(
                    f"Store '{self.collection}' holds {found}-d vectors but the embeddings give {self._size}-d: "
                    "set ROUTEUR_COLLECTION to another name or use the model the store was built with."
                )
        return not probe

    # -- engine calls -------------------------------------------------------------------------

    @staticmethod
    def _filter(selector: Selector) -> Filter:
        must: list[Any] = [FieldCondition("project_id", match=MatchValue(selector.project_id))]
        if selector.file_ids:
            must.append(FieldCondition("file_id", match=MatchAny(list(selector.file_ids))))
        must.extend(FieldCondition(k, match=MatchValue(v)) for k, v in selector.equals.items())
        must_not = [FieldCondition(k, match=MatchValue(v)) for k, v in selector.not_equals.items()]
        return Filter(must=must, must_not=must_not or None)

    def _engine_upsert(self, points: list[NewPoint]) -> None:
        self._shard.update(
            UpdateOperation.upsert_points(
                [
                    Point(
                        uuid.UUID(p.id),
                        {DENSE: p.dense, SPARSE: EdgeSparse(p.sparse.indices, p.sparse.values)},
                        p.payload,
                    )
                    for p in points
                ]
            )
        )
        self._written += len(points)
        if self._written >= self.optimize_after:
            self._optimize_in_background()

    def _engine_put_marker(self, marker: str, payload: dict[str, Any]) -> None:
        self._shard.update(UpdateOperation.upsert_points([Point(uuid.UUID(marker), {}, payload)]))

    def _engine_delete_ids(self, ids: list[str]) -> None:
        self._shard.update(UpdateOperation.delete_points([uuid.UUID(i) for i in ids]))

    def _engine_delete(self, selector: Selector) -> None:
        self._shard.update(UpdateOperation.delete_points_by_filter(self._filter(selector)))

    def _engine_publish(self, selector: Selector, project_id: str) -> None:
        self._shard.update(UpdateOperation.set_payload_by_filter(self._filter(selector), {"project_id": project_id}))

    def _engine_count(self, selector: Selector) -> int:
        return self._shard.count(CountRequest(exact=True, filter=self._filter(selector)))

    def _engine_scroll(self, selector: Selector, fields: list[str]) -> Iterator[dict[str, Any]]:
        offset = None
        flt = self._filter(selector)
        while True:
            records, offset = self._shard.scroll(
                ScrollRequest(offset=offset, limit=SCROLL_PAGE, filter=flt, with_payload=fields, with_vector=False)
            )
            for record in records:
                yield dict(record.payload or {})
            if offset is None:
                return

    def _engine_search(
        self, mode: SearchMode, dense: list[float] | None, sparse: SparseVector, selector: Selector, top_k: int, similarity: bool = False
    ) -> list[Hit]:
        flt = self._filter(selector)
        dense_params = dense_search_params()
        # IDF over the whole project (not only the sources asked), as on the server path.
        sparse_params = SearchParams(idf=IdfParams(corpus=self._filter(Selector(selector.project_id))))
        sparse_query = Query.Nearest(EdgeSparse(sparse.indices, sparse.values), using=SPARSE)
        vectors = [DENSE] if similarity and dense is not None else None
        if mode == "sparse":
            request = QueryRequest(
                limit=top_k, query=sparse_query, filter=flt, params=sparse_params, with_payload=True, with_vector=vectors
            )
        elif mode == "dense":
            request = QueryRequest(
                limit=top_k,
                query=Query.Nearest(dense, using=DENSE),
                filter=flt,
                params=dense_params,
                with_payload=True,
                with_vector=vectors,
            )
        else:
            depth = prefetch_depth(top_k)
            prefetches = [Prefetch(limit=depth, query=Query.Nearest(dense, using=DENSE), filter=flt, params=dense_params)]
            if sparse.indices:
                prefetches.append(Prefetch(limit=depth, query=sparse_query, filter=flt, params=sparse_params))
            request = QueryRequest(
                limit=top_k, prefetches=prefetches, query=Fusion.Rrf(k=RRF_K), filter=flt, with_payload=True, with_vector=vectors
            )
        # Fused scores tie often (rank 3 + rank 5 = rank 5 + rank 3) and the engine returns ties in
        # no fixed order: the point id breaks them, so one query always ranks its hits alike.
        points = sorted(self._shard.query(request), key=lambda p: (-p.score, str(p.id)))
        hits = [hit(p.id, p.score, p.payload or {}) for p in points]
        if vectors and dense is not None:
            return with_similarity(hits, dense, [p.vector[DENSE] for p in points])
        return hits

    def _engine_ping(self) -> None:
        self._shard.info()

    async def ping(self) -> None:
        try:
            await self._run(self._engine_ping)
        except Exception as exc:
            raise StoreUnavailableError(f"The embedded store at {self.location} cannot serve queries: {exc}") from exc

    # -- maintenance --------------------------------------------------------------------------

    def optimize(self) -> bool:
        """Build the HNSW graph and vacuum deleted points now (blocking); True if anything changed."""
        with self._optimizer_lock:
            self._written = 0
            return self._shard.optimize()

    def _optimize_in_background(self) -> None:
        if self._optimizer is not None and self._optimizer.is_alive():
            return
        self._written = 0

        def run() -> None:
            try:
                self.optimize()
            except Exception:
                log.exception("Optimizing the store at %s failed; searches stay exact meanwhile", self.location)

        self._optimizer = threading.Thread(target=run, name="edge-optimize", daemon=True)
        self._optimizer.start()

    def close(self) -> None:
        if self._optimizer is not None:
            self._optimizer.join()
        self._shard.flush()
        self._shard.close()


def old_local_store(settings: Settings) -> Path | None:
    """The path of data written by the previous engine (qdrant-client local mode), if any."""
    path = settings.resolved_qdrant_path()
    if str(path) == ":memory:" or not (path / "collection").is_dir():
        return None
    return path if any((path / "collection").iterdir()) else None

"""The write protocol and query shape both Qdrant backends share (see ``retrievers.schema``).

``GenerationalStore`` implements ``DocumentStore`` once: staged writes, the commit marker, the
start-up recovery pass, per-file write locks and the thread plumbing. A backend only supplies
small synchronous engine calls over a neutral ``Selector``, so the embedded engine and a server
cannot drift apart in what they store, which points a query may see, or how they rank.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from langchain_core.embeddings import Embeddings

from retrievers.base import Chunk, FileInfo, Hit, SearchMode, SourceFile, StoreUnavailableError
from retrievers.embeddings import embeddings_slug
from retrievers.schema import (
    COMMITTING,
    STAGED,
    FILE_FIELDS,
    FileTally,
    chunk_payload,
    content_hash,
    marker_id,
    point_id,
)
from retrievers.sparse import SparseEncoder, SparseVector
from routeur.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class Selector:
    """Points of one tenant key (a project, ``STAGED`` or ``COMMITTING``), optionally of some
    files, with exact payload values required or excluded."""

    project_id: str
    file_ids: Sequence[str] | None = None
    equals: dict[str, str] = field(default_factory=dict)
    not_equals: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NewPoint:
    id: str
    dense: list[float]
    sparse: SparseVector
    payload: dict[str, Any]


class GenerationalStore:
    """``DocumentStore`` over a Qdrant engine; subclasses implement the ``_engine_*`` calls."""

    location: str

    def __init__(self, settings: Settings, embeddings: Embeddings, sparse_encoder: SparseEncoder | None, *, batch_size: int):
        # One collection per embedding model: another model's vectors never share a store.
        self.collection = settings.collection or f"chunks_{embeddings_slug(settings)}"
        self._embeddings = embeddings
        self._sparse = sparse_encoder or SparseEncoder()
        self.batch_size = batch_size
        self._call_lock: threading.Lock | None = None
        self._file_locks: weakref.WeakValueDictionary[tuple[str, str], anyio.Lock] = weakref.WeakValueDictionary()

    def _unavailable(self, exc: BaseException, *, locked: bool) -> StoreUnavailableError:
        """The error a backend raises when it cannot open its store; ``locked`` when another
        process holds an embedded store (one process per path)."""
        if locked:
            return StoreUnavailableError(
                f"The embedded Qdrant store at {self.location} is open in another process. Stop that "
                "process, or run a Qdrant server and set ROUTEUR_QDRANT_URL so several processes share it."
            )
        return StoreUnavailableError(f"Cannot open the Qdrant store at {self.location}: {exc}")

    # -- engine calls (synchronous, run in worker threads) ------------------------------------

    def _engine_upsert(self, points: list[NewPoint]) -> None:
        raise NotImplementedError

    def _engine_put_marker(self, marker: str, payload: dict[str, Any]) -> None:
        raise NotImplementedError

    def _engine_delete_ids(self, ids: list[str]) -> None:
        raise NotImplementedError

    def _engine_delete(self, selector: Selector) -> None:
        raise NotImplementedError

    def _engine_publish(self, selector: Selector, project_id: str) -> None:
        """Set ``project_id`` on every point ``selector`` matches, in one update."""
        raise NotImplementedError

    def _engine_count(self, selector: Selector) -> int:
        raise NotImplementedError

    def _engine_scroll(self, selector: Selector, fields: list[str]) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def _engine_search(
        self,
        mode: SearchMode,
        dense: list[float] | None,
        sparse: SparseVector,
        selector: Selector,
        top_k: int,
        similarity: bool = False,
    ) -> list[Hit]:
        """Ranked hits; sparse IDF is computed over ``selector.project_id``'s points only. With
        ``similarity``, each hit carries its cosine with ``dense`` (``schema.with_similarity``)."""
        raise NotImplementedError

    def _engine_ping(self) -> None:
        raise NotImplementedError

    async def _ready(self) -> None:
        """Create or check the collection before first use (a no-op once done)."""

    # -- plumbing -----------------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run an engine call in a worker thread. A cancelled caller first waits for the call it
        started to finish, so a write never lands after the rollback that follows it."""

        def call() -> T:
            with self._call_lock or nullcontext():
                return fn(*args)

        task = asyncio.ensure_future(anyio.to_thread.run_sync(call))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            with anyio.CancelScope(shield=True):
                await asyncio.wait([task])
            if not task.cancelled() and task.exception() is not None:
                log.warning("A store call failed after its caller was cancelled: %s", task.exception())
            raise

    def _file_lock(self, project_id: str, file_id: str) -> anyio.Lock:
        """Writes to one file run one at a time, or two versions could each delete the other."""
        key = (project_id, file_id)
        lock = self._file_locks.get(key)
        if lock is None:
            lock = self._file_locks[key] = anyio.Lock()
        return lock

    def recover(self, *, drop_staged: bool = True) -> tuple[int, int]:
        """Finish decided commits and drop unfinished writes left by a crash (call before serving).

        ``drop_staged`` only when this process is the store's sole writer: on a shared server,
        another worker's staged points may be a write in progress. Finishing a commit is
        idempotent, so that part is always safe. Returns (commits finished, staged points removed).
        """
        markers = list(self._engine_scroll(Selector(COMMITTING), ["staged_for", "file_id", "ingest_id"]))
        for marker in markers:
            self._finish(marker["staged_for"], marker["file_id"], marker["ingest_id"])
        leftovers = self._engine_count(Selector(STAGED)) if drop_staged else 0
        if leftovers:
            self._engine_delete(Selector(STAGED))
        if markers or leftovers:
            log.warning(
                "Store at %s: finished %d interrupted commit(s), removed %d point(s) of unfinished writes",
                self.location,
                len(markers),
                leftovers,
            )
        return len(markers), leftovers

    # -- writes -------------------------------------------------------------------------------

    async def upsert_file(
        self,
        *,
        project_id: str,
        file_id: str,
        title: str,
        url: str | None,
        chunks: Sequence[Chunk],
        progress: ProgressCallback | None = None,
        source: SourceFile | None = None,
    ) -> int:
        """Stage the new version, then publish it at once; an unchanged file is left as it is.

        Until it is published the old version is untouched and still served; if staging fails
        (embedding or write) or is cancelled, the staged points are removed and the error raised.
        ``progress`` is called with the number of chunks each written batch added.
        """
        if not chunks:
            raise ValueError("A file needs at least one chunk")
        await self._ready()
        generation = content_hash(title, url, chunks, source)
        async with self._file_lock(project_id, file_id):
            published = Selector(project_id, [file_id], equals={"ingest_id": generation})
            if await self._run(self._engine_count, published):  # a published generation is whole
                if progress:
                    progress(len(chunks))
                return len(chunks)
            try:
                await self._stage(project_id, file_id, title, url, chunks, generation, progress, source)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self._discard(project_id, file_id, generation)
                raise
            with anyio.CancelScope(shield=True):  # once decided, the commit completes
                await self._run(self._commit, project_id, file_id, generation)
        return len(chunks)

    async def _stage(
        self,
        project_id: str,
        file_id: str,
        title: str,
        url: str | None,
        chunks: Sequence[Chunk],
        generation: str,
        progress: ProgressCallback | None,
        source: SourceFile | None = None,
    ) -> None:
        """Embed in batches of similar length (less padding), write each batch as staged."""
        created_at = datetime.now(UTC).isoformat(timespec="seconds")
        texts = [chunk.indexed_text(title) for chunk in chunks]
        order = sorted(range(len(chunks)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            dense = await self._embeddings.aembed_documents([texts[i] for i in batch])
            points = [
                NewPoint(
                    id=point_id(project_id, file_id, generation, i),
                    dense=vector,
                    sparse=self._sparse.encode_document(texts[i]),
                    payload=chunk_payload(
                        project_id=project_id,
                        file_id=file_id,
                        title=title,
                        url=url,
                        index=i,
                        chunk=chunks[i],
                        created_at=created_at,
                        ingest_id=generation,
                        source=source,
                    ),
                )
                for i, vector in zip(batch, dense, strict=True)
            ]
            await self._run(self._engine_upsert, points)
            if progress:
                progress(len(batch))

    async def _discard(self, project_id: str, file_id: str, generation: str) -> None:
        try:
            await self._run(self._engine_delete, _staged(project_id, file_id, generation))
        except Exception:
            log.exception("Could not remove staged write of file %s; the next start-up will", file_id)

    def _commit(self, project_id: str, file_id: str, generation: str) -> None:
        payload = {"project_id": COMMITTING, "staged_for": project_id, "file_id": file_id, "ingest_id": generation}
        self._engine_put_marker(marker_id(project_id, file_id), payload)
        self._finish(project_id, file_id, generation)

    def _finish(self, project_id: str, file_id: str, generation: str) -> None:
        """Idempotent, so recovery can redo it after a crash at any step."""
        self._engine_delete(Selector(project_id, [file_id], not_equals={"ingest_id": generation}))
        self._engine_publish(_staged(project_id, file_id, generation), project_id)
        self._engine_delete_ids([marker_id(project_id, file_id)])

    async def delete_file(self, *, project_id: str, file_id: str) -> int:
        await self._ready()

        def delete() -> int:
            selector = Selector(project_id, [file_id])
            count = self._engine_count(selector)
            if count:
                self._engine_delete(selector)
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
        similarity: bool = False,
    ) -> list[Hit]:
        if mode not in ("dense", "sparse", "hybrid"):
            raise ValueError(f"Unknown search mode {mode!r}: use dense, sparse or hybrid")
        if top_k < 1:
            return []
        await self._ready()
        sparse = self._sparse.encode_query(query)
        if mode == "sparse" and not sparse.indices:
            return []
        # A hybrid search embeds the query for its dense side anyway (the cache and the batcher
        # make that one model call for both sides): reading the sparse hits' similarity costs
        # their vectors only.
        dense = None if mode == "sparse" and not similarity else await self._embeddings.aembed_query(query)
        selector = Selector(project_id, list(sources) if sources else None)
        hits = await self._run(self._engine_search, mode, dense, sparse, selector, top_k, similarity and mode != "dense")
        if mode == "dense":
            for found in hits:
                found["similarity"] = found["score"]
        return hits

    async def list_files(self, *, project_id: str) -> list[FileInfo]:
        await self._ready()
        return await self._run(self._files, Selector(project_id))

    async def get_file(self, *, project_id: str, file_id: str) -> FileInfo | None:
        await self._ready()
        files = await self._run(self._files, Selector(project_id, [file_id]))
        return files[0] if files else None

    def _files(self, selector: Selector) -> list[FileInfo]:
        tally = FileTally()
        for payload in self._engine_scroll(selector, FILE_FIELDS):
            tally.add(payload)
        return tally.files()


def _staged(project_id: str, file_id: str, generation: str) -> Selector:
    return Selector(STAGED, [file_id], equals={"staged_for": project_id, "ingest_id": generation})

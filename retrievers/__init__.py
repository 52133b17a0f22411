"""Document retrieval: the store the agents search, built once per process from settings.

Importing this package stays cheap: torch and the embedding model load on first use.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

from routeur.settings import Settings, get_settings

if TYPE_CHECKING:
    from retrievers.base import DocumentStore
    from retrievers.generations import GenerationalStore

STORE_CONFIG_KEY = "document_store"
"""Key of a run's ``configurable`` that carries the store to search (the API passes its own)."""
_store: DocumentStore | None = None
_lock = threading.Lock()


def build_store(settings: Settings) -> GenerationalStore:
    """Qdrant's embedded engine on a path by default, a Qdrant server when ``qdrant_url`` is set.

    Refuses to start on a data dir still holding the previous embedded engine's data, rather than
    serving an empty store beside it: ``routeur reindex`` moves that data over.
    """
    from retrievers.embeddings import build_embeddings
    from retrievers.sparse import SparseEncoder

    embeddings = build_embeddings(settings)
    if settings.qdrant_url:
        from retrievers.qdrant import QdrantDocumentStore

        return QdrantDocumentStore(settings, embeddings, SparseEncoder())
    from retrievers.base import StoreUnavailableError
    from retrievers.edge import EdgeDocumentStore, old_local_store

    if (old := old_local_store(settings)) is not None:
        raise StoreUnavailableError(
            f"{old} holds documents written by the previous embedded store (qdrant-client local mode), "
            "which this version no longer serves. Run `routeur reindex` once to rebuild them into the new "
            f"store at {settings.resolved_edge_path()}; nothing is deleted."
        )
    return EdgeDocumentStore(settings, embeddings, SparseEncoder())


def get_store() -> DocumentStore:
    """The process-wide store, built from ``get_settings()`` on first use (once, even when
    several threads ask at the same time: a local path can only be opened once)."""
    global _store
    with _lock:
        if _store is None:
            _store = build_store(get_settings())
        return _store


async def aget_store() -> DocumentStore:
    """``get_store`` for async code: opening the store does file I/O, kept off the event loop."""
    if _store is not None:
        return _store
    return await asyncio.to_thread(get_store)


def set_store(store: DocumentStore | None) -> None:
    """Install the store ``get_store`` returns (API lifespan, tests); ``None`` resets it."""
    global _store
    with _lock:
        _store = store

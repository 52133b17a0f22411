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
    from retrievers.qdrant import QdrantDocumentStore

STORE_CONFIG_KEY = "document_store"
"""Key of a run's ``configurable`` that carries the store to search (the API passes its own)."""
_store: DocumentStore | None = None
_lock = threading.Lock()


def build_store(settings: Settings) -> QdrantDocumentStore:
    from retrievers.embeddings import build_embeddings
    from retrievers.qdrant import QdrantDocumentStore
    from retrievers.sparse import SparseEncoder

    return QdrantDocumentStore(settings, build_embeddings(settings), SparseEncoder())


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

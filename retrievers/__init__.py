"""Document retrieval: the store the agents search, built once per process from settings."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

from routeur.settings import Settings, get_settings

if TYPE_CHECKING:
    from retrievers.base import DocumentStore
    from retrievers.qdrant import QdrantDocumentStore

STORE_CONFIG_KEY = "document_store"
_store: DocumentStore | None = None
_lock = threading.Lock()


def build_store(settings: Settings) -> QdrantDocumentStore:
    from retrievers.embeddings import build_embeddings
    from retrievers.qdrant import QdrantDocumentStore

    return QdrantDocumentStore(settings, build_embeddings(settings))


def get_store() -> DocumentStore:
    """The process-wide store (the API and tests install theirs with ``set_store``)."""
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
    global _store
    _store = store

"""Document retrieval: the store the agents search, built from the settings it is given.

Importing this package stays cheap: torch and the embedding model load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from retrievers.qdrant import QdrantDocumentStore
    from routeur.settings import Settings


def build_store(settings: Settings) -> QdrantDocumentStore:
    from retrievers.embeddings import build_embeddings
    from retrievers.qdrant import QdrantDocumentStore
    from retrievers.sparse import SparseEncoder

    return QdrantDocumentStore(settings, build_embeddings(settings), SparseEncoder())

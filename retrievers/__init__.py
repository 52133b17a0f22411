"""Document retrieval: the store the agents search, built from the settings it is given.

Importing this package stays cheap: torch and the embedding model load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from retrievers.generations import GenerationalStore
    from routeur.settings import Settings


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


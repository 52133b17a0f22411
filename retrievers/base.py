"""The narrow interface between the agents and whatever stores their documents.

Nodes and the API only see ``DocumentStore``: the engine behind it (Qdrant's embedded engine by
default, a Qdrant server by URL) can change without touching them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from typing_extensions import TypedDict

SearchMode = Literal["dense", "sparse", "hybrid"]


@dataclass(frozen=True)
class Chunk:
    """One passage of a file as ingestion cuts it: its text, where it sits in the document
    (``section`` is the heading path, ``"Guide › Installation › Linux"``; ``page`` is 1-based for
    paginated formats), so answers can cite a section and a page."""

    text: str
    section: str = ""
    page: int | None = None

    def context(self, title: str) -> str:
        """The document's title and the chunk's heading path, the title once (a Markdown file's
        first heading is usually its title too)."""
        parts = [p for p in self.section.split(" › ") if p]
        if title and parts and parts[0].casefold() == title.casefold():
            parts = parts[1:]
        return " › ".join([title, *parts] if title else parts)

    def indexed_text(self, title: str) -> str:
        """What stores embed and index: the chunk found by its document's name and heading path
        as well as by its own words, the context written as a Markdown heading line (the sparse
        encoder weighs heading terms more). Every store uses this one definition, so they rank
        alike."""
        context = self.context(title)
        return f"# {context}\n{self.text}" if context else self.text


class _Hit(TypedDict):
    """The keys every hit has (``Hit``)."""

    point_id: str
    file_id: str
    project_id: str
    title: str
    url: str | None
    chunk_index: int
    text: str
    score: float
    section: str
    page: int | None


class Hit(_Hit, total=False):
    """One retrieved chunk, as it travels through the graph state."""

    similarity: float
    """Cosine between the query's dense vector and the chunk's, when the search embedded the
    query (always in dense mode, where it is the score; on request otherwise): what the offline
    reranker reads as the semantic signal, whatever the score was fused from."""


@dataclass(frozen=True)
class SourceFile:
    """What a stored version was made from, kept with its chunks so it changes with them at once:
    the uploaded name, its size and SHA-256 (an identical re-upload is recognised without parsing),
    and the version number (1, then one more per replacement)."""

    filename: str
    size: int
    sha256: str
    version: int = 1
    chunking: str = ""
    """How the file was cut (``retrievers.ingestion.chunking_of``): the same bytes cut another way
    are not the stored version. Empty for versions stored before it was recorded."""


@dataclass(frozen=True)
class FileInfo:
    file_id: str
    project_id: str
    title: str
    url: str | None
    chunks: int
    created_at: str
    source: SourceFile | None = None
    """None for files written without it (before it was recorded)."""


class StoreUnavailableError(RuntimeError):
    """The vector store cannot be reached or opened (locked path, server down)."""


@runtime_checkable
class DocumentStore(Protocol):
    async def upsert_file(
        self,
        *,
        project_id: str,
        file_id: str,
        title: str,
        url: str | None,
        chunks: Sequence[Chunk],
        progress: Callable[[int], None] | None = None,
        source: SourceFile | None = None,
    ) -> int:
        """Write all chunks of one file, replacing any earlier version at once (a failed write
        leaves it whole); returns the chunk count. ``progress`` gets the chunks each batch wrote;
        ``source`` is stored with the version and read back by ``list_files``/``get_file``."""
        ...

    async def delete_file(self, *, project_id: str, file_id: str) -> int:
        """Remove every chunk of one file; returns how many were removed."""
        ...

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
        """Best chunks of ``project_id`` (restricted to ``sources`` file ids when non-empty).
        Dense hits always carry ``similarity``; ``similarity=True`` asks it of every mode (the
        query is embedded for a sparse search too, and each hit's dense vector read back)."""
        ...

    async def list_files(self, *, project_id: str) -> list[FileInfo]: ...

    async def get_file(self, *, project_id: str, file_id: str) -> FileInfo | None: ...

    async def ping(self) -> None:
        """Raise ``StoreUnavailableError`` when the store cannot serve queries."""
        ...

    def close(self) -> None: ...

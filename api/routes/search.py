"""``POST /projects/{project_id}/search``: retrieval only, for evaluation
notebooks and clients that generate their own answers."""

from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import FromPath, JSONBody

from api.auth import project_scope_guard
from api.errors import ERROR_RESPONSES
from api.schemas import SearchHit, SearchRequest, SearchResponse
from retrievers.base import DocumentStore
from routeur.settings import Settings


class SearchController(Controller):
    path = "/projects/{project_id:str}/search"
    tags = ["documents"]
    guards = [project_scope_guard]

    @post("/", responses=ERROR_RESPONSES, status_code=200, summary="Search the project's chunks (dense, sparse or hybrid)")
    async def search(self, project_id: FromPath[str], data: JSONBody[SearchRequest], store: NamedDependency[DocumentStore], settings: NamedDependency[Settings]) -> SearchResponse:
        query = data.query.strip()
        if not query:
            raise ValidationException("query is required")
        if len(query) > settings.max_message_chars:
            raise ValidationException(f"query is too long: the limit is {settings.max_message_chars} characters")
        hits = await store.search(query, project_id=project_id, sources=data.sources or None, top_k=data.top_k, mode=data.mode)
        results = [
            SearchHit(file_id=h["file_id"], title=h["title"], url=h["url"], text=h["text"], score=h["score"], chunk_index=h["chunk_index"])
            for h in hits
        ]
        return SearchResponse(query=query, mode=data.mode, results=results, total=len(results))

"""``POST /projects/{project_id}/search``: retrieval only (seed 002's ``/query``), for evaluation
notebooks and clients that generate their own answers."""

from __future__ import annotations

from typing import Literal

import msgspec
from litestar import Controller, post
from litestar.exceptions import ValidationException

from api.auth import project_scope_guard
from api.errors import ERROR_RESPONSES
from api.schemas import MAX_SOURCES
from api.services import AppServices


class SearchRequest(msgspec.Struct, forbid_unknown_fields=True):
    query: str
    sources: list[str] = []
    top_k: int = 5
    mode: Literal["dense", "sparse", "hybrid"] = "hybrid"


class SearchHit(msgspec.Struct):
    file_id: str
    title: str
    url: str | None
    text: str
    score: float
    chunk_index: int


class SearchResponse(msgspec.Struct):
    query: str
    mode: str
    results: list[SearchHit]
    total: int


class SearchController(Controller):
    path = "/projects/{project_id:str}/search"
    tags = ["documents"]
    guards = [project_scope_guard]

    @post("/", responses=ERROR_RESPONSES, status_code=200, summary="Search the project's chunks (dense, sparse or hybrid)")
    async def search(self, project_id: str, data: SearchRequest, services: AppServices) -> SearchResponse:
        query = data.query.strip()
        if not query:
            raise ValidationException("query is required")
        if len(query) > services.settings.max_message_chars:
            raise ValidationException(f"query is too long: the limit is {services.settings.max_message_chars} characters")
        if not 1 <= data.top_k <= 50:
            raise ValidationException("top_k must be between 1 and 50")
        if len(data.sources) > MAX_SOURCES:
            raise ValidationException(f"sources must list at most {MAX_SOURCES} file ids")
        hits = await services.store.search(query, project_id=project_id, sources=data.sources or None, top_k=data.top_k, mode=data.mode)
        results = [
            SearchHit(file_id=h["file_id"], title=h["title"], url=h["url"], text=h["text"], score=h["score"], chunk_index=h["chunk_index"])
            for h in hits
        ]
        return SearchResponse(query=query, mode=data.mode, results=results, total=len(results))

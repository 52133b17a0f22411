"""``/projects/{project_id}/documents``: upload (one or several files, see ``api.services.uploads``), list, read, delete."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, Parameter

from api.auth import project_scope_guard
from api.disconnect import unless_disconnected
from api.errors import ERROR_RESPONSES
from api.schemas import PAGE_SIZE_MAX, Deleted, DocumentInfo, DocumentPage, UploadForm, UploadResponse
from api.services.uploads import batch_response, ingest_upload
from retrievers.base import DocumentStore, FileInfo
from routeur.settings import Settings


def document_info(info: FileInfo) -> DocumentInfo:
    return DocumentInfo(id=info.file_id, file_id=info.file_id, title=info.title, url=info.url, chunks=info.chunks, created_at=info.created_at)


class DocumentsController(Controller):
    path = "/projects/{project_id:str}/documents"
    tags = ["documents"]
    guards = [project_scope_guard]

    @post("/", responses=ERROR_RESPONSES, summary="Upload documents (multipart 'files', optional 'title' and 'url')")
    async def upload(
        self,
        project_id: str,
        store: DocumentStore,
        settings: Settings,
        data: Annotated[UploadForm, Body(media_type=RequestEncodingType.MULTI_PART)],
        request: Request[Any, Any, Any],
    ) -> Response[UploadResponse]:
        uploads = data.uploads()
        results = [await unless_disconnected(request, ingest_upload(store, settings, project_id, u, data.title, data.url)) for u in uploads]
        return batch_response(project_id, results)

    @get("/", responses=ERROR_RESPONSES, summary="List the project's documents")
    async def list_documents(
        self,
        project_id: str,
        store: DocumentStore,
        page: Annotated[int, Parameter(ge=1)] = 1,
        page_size: Annotated[int, Parameter(ge=1, le=PAGE_SIZE_MAX)] = 50,
    ) -> DocumentPage:
        files = await store.list_files(project_id=project_id)
        start = (page - 1) * page_size
        return DocumentPage(
            items=[document_info(f) for f in files[start : start + page_size]], total=len(files), page=page, page_size=page_size
        )

    @get("/{file_id:str}", responses=ERROR_RESPONSES, summary="One document")
    async def get_document(self, project_id: str, file_id: str, store: DocumentStore) -> DocumentInfo:
        info = await store.get_file(project_id=project_id, file_id=file_id)
        if info is None:
            raise NotFoundException(f"No document '{file_id}' in project '{project_id}'")
        return document_info(info)

    @delete("/{file_id:str}", responses=ERROR_RESPONSES, status_code=200, summary="Delete a document and all its chunks")
    async def delete_document(self, project_id: str, file_id: str, store: DocumentStore) -> Deleted:
        removed = await store.delete_file(project_id=project_id, file_id=file_id)
        if removed == 0:
            raise NotFoundException(f"No document '{file_id}' in project '{project_id}'")
        return Deleted(file_id=file_id, deleted=True, chunks=removed)

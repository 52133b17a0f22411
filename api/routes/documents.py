"""``/projects/{project_id}/documents``: upload (one or several files), list, read, delete.

Uploads go through the same ingestion path as ``routeur ingest``. Each file of a batch gets its
own status, so one bad file never loses the good ones; a batch where every file failed is an
error with that failure's status (415 type, 413 size, 400 empty or unreadable)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import msgspec
from litestar import Controller, Response, delete, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.params import Body, Parameter

from api.auth import project_scope_guard
from api.errors import ERROR_RESPONSES
from api.services import AppServices
from retrievers.base import FileInfo
from retrievers.ingestion import ingest_bytes
from retrievers.loaders import EmptyDocumentError, UnsupportedFileTypeError


@dataclass
class UploadForm:
    files: list[UploadFile] = field(default_factory=list)
    file: UploadFile | None = None
    title: str | None = None
    url: str | None = None

    def uploads(self) -> list[UploadFile]:
        found = [*self.files, *([self.file] if self.file else [])]
        if not found:
            raise ValidationException("No file in the request: send multipart field 'files' (or 'file')")
        if len(found) > 1 and (self.title or self.url):
            raise ValidationException("title and url apply to a single file")
        return found


class FileResult(msgspec.Struct):
    filename: str
    status: str
    file_id: str | None = None
    title: str | None = None
    url: str | None = None
    chunks: int = 0
    status_code: int = 201
    message: str | None = None


class UploadResponse(msgspec.Struct):
    project_id: str
    files: list[FileResult]


class DocumentInfo(msgspec.Struct):
    id: str
    file_id: str
    title: str
    url: str | None
    chunks: int
    created_at: str


class DocumentPage(msgspec.Struct):
    items: list[DocumentInfo]
    total: int
    page: int
    page_size: int


class Deleted(msgspec.Struct):
    file_id: str
    deleted: bool
    chunks: int


async def ingest_upload(services: AppServices, project_id: str, upload: UploadFile, title: str | None, url: str | None) -> FileResult:
    """One uploaded file through the shared ingestion path, failures reported, never raised."""
    name = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    data = await upload.read()
    if not name:
        return FileResult(filename="", status="error", status_code=400, message="The file has no name")
    if len(data) > services.settings.max_upload_bytes:
        limit = services.settings.max_upload_bytes
        return FileResult(
            filename=name, status="error", status_code=413, message=f"'{name}' is {len(data)} bytes, over the {limit}-byte limit"
        )
    try:
        result = await ingest_bytes(
            services.store, project_id=project_id, filename=name, data=data, title=title, url=url, settings=services.settings
        )
    except UnsupportedFileTypeError as exc:
        return FileResult(filename=name, status="error", status_code=415, message=str(exc))
    except EmptyDocumentError as exc:
        return FileResult(filename=name, status="error", status_code=400, message=str(exc))
    return FileResult(filename=name, status="ingested", file_id=result.file_id, title=result.title, url=url, chunks=result.chunks)


def batch_response(project_id: str, results: list[FileResult]) -> Response[UploadResponse]:
    if all(r.status == "error" for r in results):
        first = results[0]
        message = first.message if len(results) == 1 else "No file could be ingested: " + "; ".join(r.message or "" for r in results)
        raise HTTPException(status_code=first.status_code, detail=message)
    return Response(UploadResponse(project_id=project_id, files=results), status_code=201)


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
        services: AppServices,
        data: Annotated[UploadForm, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Response[UploadResponse]:
        uploads = data.uploads()
        results = [await ingest_upload(services, project_id, u, data.title, data.url) for u in uploads]
        return batch_response(project_id, results)

    @get("/", responses=ERROR_RESPONSES, summary="List the project's documents")
    async def list_documents(
        self,
        project_id: str,
        services: AppServices,
        page: Annotated[int, Parameter(ge=1)] = 1,
        page_size: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> DocumentPage:
        files = await services.store.list_files(project_id=project_id)
        start = (page - 1) * page_size
        return DocumentPage(
            items=[document_info(f) for f in files[start : start + page_size]], total=len(files), page=page, page_size=page_size
        )

    @get("/{file_id:str}", responses=ERROR_RESPONSES, summary="One document")
    async def get_document(self, project_id: str, file_id: str, services: AppServices) -> DocumentInfo:
        info = await services.store.get_file(project_id=project_id, file_id=file_id)
        if info is None:
            raise NotFoundException(f"No document '{file_id}' in project '{project_id}'")
        return document_info(info)

    @delete("/{file_id:str}", responses=ERROR_RESPONSES, status_code=200, summary="Delete a document and all its chunks")
    async def delete_document(self, project_id: str, file_id: str, services: AppServices) -> Deleted:
        removed = await services.store.delete_file(project_id=project_id, file_id=file_id)
        if removed == 0:
            raise NotFoundException(f"No document '{file_id}' in project '{project_id}'")
        return Deleted(file_id=file_id, deleted=True, chunks=removed)

"""``/projects/{project_id}/upload-sessions``: open a session, add files to it over several
requests, read what became of each file, delete the session with its documents (seed 002)."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import msgspec
from litestar import Controller, Response, delete, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body

from api.auth import project_scope_guard
from api.errors import ERROR_RESPONSES
from api.routes.documents import (
    UploadForm,
    UploadResponse,
    batch_response,
    ingest_upload,
)
from api.services import AppServices
from retrievers.uploads import UploadSession, uploaded


class SessionFile(msgspec.Struct):
    filename: str
    file_id: str | None
    title: str | None
    chunks: int
    status: str
    error: str | None
    added_at: str


class SessionDetails(msgspec.Struct):
    id: str
    project_id: str
    created_at: str
    files: list[SessionFile]
    documents: int


class SessionDeleted(msgspec.Struct):
    id: str
    deleted: bool
    documents_deleted: int


def details(session: UploadSession) -> SessionDetails:
    files = [SessionFile(**dataclasses.asdict(f)) for f in session.files]
    return SessionDetails(
        id=session.id,
        project_id=session.project_id,
        created_at=session.created_at,
        files=files,
        documents=sum(f.status == "ingested" for f in session.files),
    )


class UploadSessionsController(Controller):
    path = "/projects/{project_id:str}/upload-sessions"
    tags = ["documents"]
    guards = [project_scope_guard]

    @post("/", responses=ERROR_RESPONSES, status_code=201, summary="Open an upload session")
    async def open_session(self, project_id: str, services: AppServices) -> SessionDetails:
        return details(await services.uploads.create(project_id))

    @post("/{session_id:str}", responses=ERROR_RESPONSES, summary="Add files to an upload session")
    async def add_files(
        self,
        project_id: str,
        session_id: str,
        services: AppServices,
        data: Annotated[UploadForm, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Response[UploadResponse]:
        await self._session(services, project_id, session_id)
        uploads = data.uploads()
        results = []
        for upload in uploads:
            result = await ingest_upload(services, project_id, upload, data.title, data.url)
            await services.uploads.record(
                session_id,
                uploaded(result.filename, file_id=result.file_id, title=result.title, chunks=result.chunks, status=result.status, error=result.message),
            )
            results.append(result)
        return batch_response(project_id, results)

    @get("/{session_id:str}", responses=ERROR_RESPONSES, summary="An upload session's files and their status")
    async def get_session(self, project_id: str, session_id: str, services: AppServices) -> SessionDetails:
        return details(await self._session(services, project_id, session_id))

    @delete("/{session_id:str}", responses=ERROR_RESPONSES, status_code=200, summary="Delete an upload session and its documents")
    async def delete_session(self, project_id: str, session_id: str, services: AppServices) -> SessionDeleted:
        session = await self._session(services, project_id, session_id)
        file_ids = {f.file_id for f in session.files if f.status == "ingested" and f.file_id}
        removed = 0
        for file_id in sorted(file_ids):
            removed += await services.store.delete_file(project_id=project_id, file_id=file_id) > 0
        await services.uploads.delete(session_id)
        return SessionDeleted(id=session_id, deleted=True, documents_deleted=removed)

    @staticmethod
    async def _session(services: AppServices, project_id: str, session_id: str) -> UploadSession:
        session = await services.uploads.get(project_id, session_id)
        if session is None:
            raise NotFoundException(f"No upload session '{session_id}' in project '{project_id}'")
        return session

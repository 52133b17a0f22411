"""``/projects/{project_id}/upload-sessions``: open a session, add files to it over several
requests, read what became of each file, delete the session with its documents (several requests, one session to review or undo);
``/deactivate`` closes the caller's open sessions (they keep their documents, take no more files).
Files added to a session are ingested before the answer, whatever their size (one request per
file or a few keeps each short): deleting a session removes exactly the documents it wrote, which
it records as each file is stored, so they never run as background jobs. ``on_conflict`` works as
on the documents route."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import Body, FromPath, Parameter

from api.auth import Principal, project_scope_guard
from api.disconnect import unless_disconnected
from api.errors import ERROR_RESPONSES
from api.routes.documents import ConflictChoice
from api.schemas import SessionDeleted, SessionDetails, SessionFile, SessionsDeactivated, UploadForm, UploadResponse
from api.services.uploads import batch_response, ingest_upload, read_upload
from retrievers.base import DocumentStore
from retrievers.uploads import UploadSession, UploadSessionStore, uploaded
from routeur.settings import Settings

SessionBackground = Annotated[
    bool | None,
    Parameter(description="Only false is accepted: a session's files are stored before the answer (true is 400)"),
]


def details(session: UploadSession) -> SessionDetails:
    files = [SessionFile(**dataclasses.asdict(f)) for f in session.files]
    return SessionDetails(
        id=session.id,
        project_id=session.project_id,
        created_at=session.created_at,
        files=files,
        documents=sum(f.status == "ingested" for f in session.files),
        active=session.active,
    )


class UploadSessionsController(Controller):
    path = "/projects/{project_id:str}/upload-sessions"
    tags = ["documents"]
    guards = [project_scope_guard]

    @post("/", responses=ERROR_RESPONSES, status_code=201, summary="Open an upload session")
    async def open_session(self, project_id: FromPath[str], uploads: NamedDependency[UploadSessionStore], request: Request[Principal, Any, Any]) -> SessionDetails:
        return details(await uploads.create(project_id, owner=request.user.sub))

    @post("/deactivate", responses=ERROR_RESPONSES, status_code=200, summary="Close the caller's open upload sessions")
    async def deactivate(self, project_id: FromPath[str], uploads: NamedDependency[UploadSessionStore], request: Request[Principal, Any, Any]) -> SessionsDeactivated:
        closed = await uploads.deactivate(project_id, request.user.sub)
        return SessionsDeactivated(project_id=project_id, deactivated=len(closed), ids=closed)

    @post("/{session_id:str}", responses=ERROR_RESPONSES, summary="Add files to an upload session")
    async def add_files(
        self,
        project_id: FromPath[str],
        session_id: FromPath[str],
        store: NamedDependency[DocumentStore],
        settings: NamedDependency[Settings],
        uploads: NamedDependency[UploadSessionStore],
        data: Annotated[UploadForm, Body(media_type=RequestEncodingType.MULTI_PART)],
        request: Request[Any, Any, Any],
        on_conflict: ConflictChoice = "replace",
        background: SessionBackground = None,
    ) -> Response[UploadResponse]:
        if background:
            raise HTTPException(
                status_code=400,
                detail="Upload sessions store each file before answering (deleting a session removes exactly "
                f"the documents it wrote): for a background job, upload to /projects/{project_id}/documents",
            )
        if not (await self._session(uploads, project_id, session_id)).active:
            raise HTTPException(status_code=409, detail=f"Upload session '{session_id}' is deactivated: open a new one")
        results = []
        for upload in data.uploads():
            read = await read_upload(upload, settings)
            result = await unless_disconnected(request, ingest_upload(store, settings, project_id, read, data.title, data.url, on_conflict))
            # A file left unchanged was there before the session: deleting the session keeps it.
            status = "unchanged" if result.outcome == "unchanged" else result.status
            await uploads.record(
                session_id,
                uploaded(
                    result.filename, file_id=result.file_id, title=result.title, chunks=result.chunks, status=status, error=result.message
                ),
            )
            results.append(result)
        return batch_response(project_id, results)

    @get("/{session_id:str}", responses=ERROR_RESPONSES, summary="An upload session's files and their status")
    async def get_session(self, project_id: FromPath[str], session_id: FromPath[str], uploads: NamedDependency[UploadSessionStore]) -> SessionDetails:
        return details(await self._session(uploads, project_id, session_id))

    @delete("/{session_id:str}", responses=ERROR_RESPONSES, status_code=200, summary="Delete an upload session and its documents")
    async def delete_session(
        self, project_id: FromPath[str], session_id: FromPath[str], store: NamedDependency[DocumentStore], uploads: NamedDependency[UploadSessionStore]
    ) -> SessionDeleted:
        session = await self._session(uploads, project_id, session_id)
        written = {f.file_id: f.added_at for f in session.files if f.status == "ingested" and f.file_id}
        removed = 0
        for file_id, added_at in sorted(written.items()):
            if not await self._still_ours(store, uploads, project_id, session_id, file_id, added_at):
                continue
            removed += await store.delete_file(project_id=project_id, file_id=file_id) > 0
        await uploads.delete(session_id)
        return SessionDeleted(id=session_id, deleted=True, documents_deleted=removed)

    @staticmethod
    async def _still_ours(
        store: DocumentStore, uploads: UploadSessionStore, project_id: str, session_id: str, file_id: str, added_at: str
    ) -> bool:
        """The stored version is the one this session wrote: no later session and no later
        direct upload replaced it (a newer version belongs to whoever wrote it)."""
        if await uploads.superseded(session_id, file_id):
            return False
        current = await store.get_file(project_id=project_id, file_id=file_id)
        return current is not None and current.created_at <= added_at

    @staticmethod
    async def _session(uploads: UploadSessionStore, project_id: str, session_id: str) -> UploadSession:
        session = await uploads.get(project_id, session_id)
        if session is None:
            raise NotFoundException(f"No upload session '{session_id}' in project '{project_id}'")
        return session

"""``/projects/{project_id}/documents``: upload (one or several files, see ``api.services.uploads``),
list, read, delete; ``/projects/{project_id}/jobs``: background uploads, listed or one by one with
each file's progress."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, FromPath, Parameter

from api.auth import Principal, project_scope_guard
from api.disconnect import unless_disconnected
from api.errors import ERROR_RESPONSES
from api.schemas import (
    Deleted,
    DocumentInfo,
    DocumentPage,
    JobDetails,
    JobFileInfo,
    JobPage,
    PageNumber,
    PageSize,
    UploadForm,
    UploadResponse,
)
from api.services.jobs import IngestionJobs
from api.services.uploads import batch_failure, batch_response, ingest_upload, read_upload, runs_in_background, source_fields
from retrievers.base import DocumentStore, FileInfo
from retrievers.jobs import Job, JobState
from routeur.settings import Settings

ConflictChoice = Annotated[
    Literal["replace", "reject", "rename"],
    Parameter(
        description="A name the project already holds with other content: replace it (default), reject the file (409), "
        "or rename the new one 'name (2).ext'. The same bytes are 'unchanged' whatever the choice."
    ),
]
Background = Annotated[
    bool | None,
    Parameter(description="true: always a background job (202); false: always answer when stored (201); "
              "unset: in the background unless one file of at most ROUTEUR_SYNC_UPLOAD_MAX_BYTES"),
]  # fmt: skip
UPLOAD_RESPONSES = {**ERROR_RESPONSES, 202: ResponseSpec(data_container=JobDetails, description="Queued as a background job")}


def document_info(info: FileInfo) -> DocumentInfo:
    return DocumentInfo(
        id=info.file_id,
        file_id=info.file_id,
        title=info.title,
        url=info.url,
        chunks=info.chunks,
        created_at=info.created_at,
        filename=info.source.filename if info.source else None,
        **source_fields(info.source),  # type: ignore[arg-type]
    )


def job_details(job: Job) -> JobDetails:
    files = [JobFileInfo(**{k: v for k, v in vars(f).items() if k != "position"}) for f in job.files]
    counts: dict[str, int] = {}
    for item in files:
        counts[item.status] = counts.get(item.status, 0) + 1
    return JobDetails(
        id=job.id,
        project_id=job.project_id,
        status=job.status,
        created_at=job.created_at,
        updated_at=job.updated_at,
        finished_at=job.finished_at,
        on_conflict=job.on_conflict,
        files=files,
        counts=counts,
    )


def job_path(project_id: str, job_id: str) -> str:
    return f"/projects/{project_id}/jobs/{job_id}"


class DocumentsController(Controller):
    path = "/projects/{project_id:str}/documents"
    tags = ["documents"]
    guards = [project_scope_guard]

    @post(
        "/",
        responses=UPLOAD_RESPONSES,
        summary="Upload documents (multipart 'files', optional 'title' and 'url'): 201 when stored, 202 with a job to poll",
    )
    async def upload(
        self,
        project_id: FromPath[str],
        store: NamedDependency[DocumentStore],
        settings: NamedDependency[Settings],
        jobs: NamedDependency[IngestionJobs],
        data: Annotated[UploadForm, Body(media_type=RequestEncodingType.MULTI_PART)],
        request: Request[Principal, Any, Any],
        on_conflict: ConflictChoice = "replace",
        background: Background = None,
    ) -> Response[UploadResponse | JobDetails]:
        uploads = [await read_upload(u, settings) for u in data.uploads()]
        if runs_in_background(uploads, settings, background):
            if all(u.refused is not None for u in uploads):
                raise batch_failure([u.refused for u in uploads if u.refused is not None])
            job = await jobs.submit(project_id, uploads, owner=request.user.sub, on_conflict=on_conflict, title=data.title, url=data.url)
            return Response(job_details(job), status_code=202, headers={"Location": job_path(project_id, job.id)})
        results = [
            await unless_disconnected(request, ingest_upload(store, settings, project_id, u, data.title, data.url, on_conflict))
            for u in uploads
        ]
        return batch_response(project_id, results)

    @get("/", responses=ERROR_RESPONSES, summary="List the project's documents (names, sizes, SHA-256, versions)")
    async def list_documents(
        self,
        project_id: FromPath[str],
        store: NamedDependency[DocumentStore],
        page: PageNumber = 1,
        page_size: PageSize = 50,
    ) -> DocumentPage:
        files = await store.list_files(project_id=project_id)
        start = (page - 1) * page_size
        return DocumentPage(
            items=[document_info(f) for f in files[start : start + page_size]], total=len(files), page=page, page_size=page_size
        )

    @get("/{file_id:str}", responses=ERROR_RESPONSES, summary="One document")
    async def get_document(self, project_id: FromPath[str], file_id: FromPath[str], store: NamedDependency[DocumentStore]) -> DocumentInfo:
        info = await store.get_file(project_id=project_id, file_id=file_id)
        if info is None:
            raise NotFoundException(f"No document '{file_id}' in project '{project_id}'")
        return document_info(info)

    @delete("/{file_id:str}", responses=ERROR_RESPONSES, status_code=200, summary="Delete a document and all its chunks")
    async def delete_document(self, project_id: FromPath[str], file_id: FromPath[str], store: NamedDependency[DocumentStore]) -> Deleted:
        removed = await store.delete_file(project_id=project_id, file_id=file_id)
        if removed == 0:
            raise NotFoundException(f"No document '{file_id}' in project '{project_id}'")
        return Deleted(file_id=file_id, deleted=True, chunks=removed)


class IngestionJobsController(Controller):
    path = "/projects/{project_id:str}/jobs"
    tags = ["documents"]
    guards = [project_scope_guard]

    @get("/", responses=ERROR_RESPONSES, summary="The project's background uploads, newest first")
    async def list_jobs(
        self,
        project_id: FromPath[str],
        jobs: NamedDependency[IngestionJobs],
        page: PageNumber = 1,
        page_size: PageSize = 50,
        status: Annotated[
            JobState | None, Parameter(description="active: a file is still queued or in progress; finished: every file is final")
        ] = None,
    ) -> JobPage:
        found, total = await jobs.list_jobs(project_id, state=status, offset=(page - 1) * page_size, limit=page_size)
        return JobPage(items=[job_details(j) for j in found], total=total, page=page, page_size=page_size)

    @get("/{job_id:str}", responses=ERROR_RESPONSES, summary="A background upload: each file's status, outcome or error")
    async def get_job(self, project_id: FromPath[str], job_id: FromPath[str], jobs: NamedDependency[IngestionJobs]) -> JobDetails:
        job = await jobs.get(project_id, job_id)
        if job is None:
            raise NotFoundException(f"No ingestion job '{job_id}' in project '{project_id}'")
        return job_details(job)

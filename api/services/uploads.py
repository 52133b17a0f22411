"""Uploaded files through the shared ingestion path (the same as ``routeur ingest``), for the
documents and upload-session routes. Each file gets its own status, so one bad file never loses
the good ones; a batch where every file failed is an error with that failure's status (415 type,
413 size, 400 empty or unreadable, 409 name taken under ``on_conflict=reject``).

Whether a batch is ingested before the answer or as a background job is decided here
(``runs_in_background``): one file of at most ``sync_upload_max_bytes`` answers when it is
stored; anything larger or more returns at once with a job to poll.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Response
from litestar.datastructures import UploadFile
from litestar.exceptions import HTTPException

from api.schemas import FileResult, UploadResponse
from retrievers.base import DocumentStore, SourceFile
from retrievers.ingestion import IngestResult, NameTakenError, OnConflict, ingest_bytes
from retrievers.loaders import DocumentTooLargeError, EmptyDocumentError, SuspiciousArchiveError, UnsupportedFileTypeError
from routeur.settings import Settings


@dataclass(frozen=True)
class ReadUpload:
    """One uploaded file read from the request: its name and bytes, or why it is refused."""

    filename: str
    data: bytes
    refused: FileResult | None = None


async def read_upload(upload: UploadFile, settings: Settings) -> ReadUpload:
    name = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    data = await upload.read()
    if not name:
        return ReadUpload(name, b"", FileResult(filename="", status="error", status_code=400, message="The file has no name"))
    if len(data) > settings.max_upload_bytes:
        limit = settings.max_upload_bytes
        message = f"'{name}' is {len(data)} bytes, over the {limit}-byte limit"
        return ReadUpload(name, b"", FileResult(filename=name, status="error", status_code=413, message=message))
    return ReadUpload(name, data)


def runs_in_background(files: list[ReadUpload], settings: Settings, background: bool | None) -> bool:
    """The caller's choice when given, else: in the background unless it is one file of at most
    ``sync_upload_max_bytes``."""
    if background is not None:
        return background
    return len(files) > 1 or len(files[0].data) > settings.sync_upload_max_bytes


def refusal(exc: BaseException) -> int | None:
    """The status of a file the ingestion refused (its own fault, not the server's); None otherwise."""
    if isinstance(exc, UnsupportedFileTypeError):
        return 415
    if isinstance(exc, DocumentTooLargeError):
        return 413
    if isinstance(exc, (EmptyDocumentError, SuspiciousArchiveError)):
        return 400
    if isinstance(exc, NameTakenError):
        return 409
    return None


def source_fields(source: SourceFile | None) -> dict[str, int | str | None]:
    """What listings and upload results show of a stored version's source: size, SHA-256, version."""
    return {
        "size": source.size if source else None,
        "sha256": source.sha256 if source else None,
        "version": source.version if source else None,
    }


def file_result(result: IngestResult) -> FileResult:
    return FileResult(
        filename=result.filename,
        status="ingested",
        file_id=result.file_id,
        title=result.title,
        url=result.url,
        chunks=result.chunks,
        outcome=result.outcome,
        previous_chunks=result.previous_chunks,
        **source_fields(result.source),  # type: ignore[arg-type]
    )


async def ingest_upload(
    store: DocumentStore,
    settings: Settings,
    project_id: str,
    upload: ReadUpload,
    title: str | None,
    url: str | None,
    on_conflict: OnConflict = "replace",
) -> FileResult:
    """One uploaded file through the shared ingestion path, failures reported, never raised."""
    if upload.refused is not None:
        return upload.refused
    try:
        result = await ingest_bytes(
            store, project_id=project_id, filename=upload.filename, data=upload.data, title=title, url=url,
            settings=settings, on_conflict=on_conflict,
        )  # fmt: skip
    except Exception as exc:
        status = refusal(exc)
        if status is None:
            raise
        return FileResult(filename=upload.filename, status="error", status_code=status, message=str(exc))
    return file_result(result)


def batch_response(project_id: str, results: list[FileResult]) -> Response[UploadResponse]:
    if all(r.status == "error" for r in results):
        raise batch_failure(results)
    return Response(UploadResponse(project_id=project_id, files=results), status_code=201)


def batch_failure(results: list[FileResult]) -> HTTPException:
    first = results[0]
    message = first.message if len(results) == 1 else "No file could be ingested: " + "; ".join(r.message or "" for r in results)
    return HTTPException(status_code=first.status_code, detail=message)

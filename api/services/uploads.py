"""Uploaded files through the shared ingestion path (the same as ``routeur ingest``), for the
documents and upload-session routes. Each file gets its own status, so one bad file never loses
the good ones; a batch where every file failed is an error with that failure's status (415 type,
413 size, 400 empty or unreadable)."""

from __future__ import annotations

from litestar import Response
from litestar.datastructures import UploadFile
from litestar.exceptions import HTTPException

from api.schemas import FileResult, UploadResponse
from retrievers.base import DocumentStore
from retrievers.ingestion import ingest_bytes
from retrievers.loaders import DocumentTooLargeError, EmptyDocumentError, SuspiciousArchiveError, UnsupportedFileTypeError
from routeur.settings import Settings


async def ingest_upload(
    store: DocumentStore, settings: Settings, project_id: str, upload: UploadFile, title: str | None, url: str | None
) -> FileResult:
    """One uploaded file through the shared ingestion path, failures reported, never raised."""
    name = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    data = await upload.read()
    if not name:
        return FileResult(filename="", status="error", status_code=400, message="The file has no name")
    if len(data) > settings.max_upload_bytes:
        limit = settings.max_upload_bytes
        return FileResult(
            filename=name, status="error", status_code=413, message=f"'{name}' is {len(data)} bytes, over the {limit}-byte limit"
        )
    try:
        result = await ingest_bytes(store, project_id=project_id, filename=name, data=data, title=title, url=url, settings=settings)
    except UnsupportedFileTypeError as exc:
        return FileResult(filename=name, status="error", status_code=415, message=str(exc))
    except DocumentTooLargeError as exc:
        return FileResult(filename=name, status="error", status_code=413, message=str(exc))
    except (EmptyDocumentError, SuspiciousArchiveError) as exc:
        return FileResult(filename=name, status="error", status_code=400, message=str(exc))
    return FileResult(filename=name, status="ingested", file_id=result.file_id, title=result.title, url=url, chunks=result.chunks)


def batch_response(project_id: str, results: list[FileResult]) -> Response[UploadResponse]:
    if all(r.status == "error" for r in results):
        first = results[0]
        message = first.message if len(results) == 1 else "No file could be ingested: " + "; ".join(r.message or "" for r in results)
        raise HTTPException(status_code=first.status_code, detail=message)
    return Response(UploadResponse(project_id=project_id, files=results), status_code=201)

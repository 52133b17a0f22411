"""Python client of the Routeur IA HTTP API, async and sync, with typed results and errors.

    from routeur.client import AsyncRouteurClient, RouteurClient

    with RouteurClient("http://127.0.0.1:7860") as client:
        print(client.complete("Sur quel port le serveur écoute-t-il ?").response)
        for event in client.chat_stream("Et la limite de requêtes ?"):
            if event["event"] == "chunk":
                print(event["data"]["content"], end="", flush=True)
        client.upload_documents("default", ["guide.pdf", ("notes.md", b"# Notes")])

    async def batch(questions: list[str]) -> list:
        async with AsyncRouteurClient("http://127.0.0.1:7860", client_id="team-a", client_secret="...") as client:
            return await client.complete_batch([{"message": q} for q in questions], max_concurrent=4)

Streams yield the protocol of ``graphs.events`` (``session``, ``phase``, ``chunk``, ``sources``,
``done``, ``error``) for both stream routes. The client gets its own token when none is given, and
gets a new one once when that token is refused (it expired). Rate-limited routes are paced to the
limit the server announces (``RateLimit-*`` headers, ``routeur.pacing``), so a batch waits for the
next window instead of failing; a 429 is still retried, after the window or ``Retry-After``.
``RouteurClient`` runs the async client on its own event loop in a thread, so it also works where
a loop is already running (Jupyter).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import inspect
import mimetypes
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Self, Unpack
from urllib.parse import quote

import anyio.from_thread
import httpx
from httpx_sse import EventSource

from graphs.events import StreamEvent, parse_event
from routeur.batch import ProgressCallback, run_batch
from routeur.pacing import RateLimitCallback, RateLimitWait, RatePacer
from routeur.client_types import (
    AgentInfo,
    AuthenticationError,
    BadRequestError,
    ChatAnswer,
    ConflictError,
    ChatOptions,
    Completion,
    CompletionOptions,
    Document,
    DocumentPage,
    Health,
    IngestionJob,
    JobFile,
    JobPage,
    MeetingAction,
    MeetingMinutes,
    MeetingReport,
    ModelInfo,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    Readiness,
    RouteurConnectionError,
    RouteurError,
    RouteurTimeoutError,
    SearchHit,
    SearchResult,
    ServerError,
    Source,
    StoredReport,
    TokenClaims,
    TokenInfo,
    Transcription,
    TranscriptionFormats,
    UnsupportedMediaTypeError,
    UploadedFile,
    UploadResult,
    UploadSession,
    Usage,
    convert,
    error_for_status,
    error_from_response,
    retry_after_seconds,
)

__all__ = [
    "AgentInfo", "AsyncRouteurClient", "AuthenticationError", "BadRequestError", "ChatAnswer", "ChatOptions", "Completion",
    "CompletionOptions", "ConflictError", "IngestionJob", "JobFile", "JobPage", "MeetingAction", "MeetingMinutes", "MeetingReport",
    "StoredReport", "Transcription", "TranscriptionFormats",
    "Document", "DocumentPage", "Health", "ModelInfo", "NotFoundError", "PayloadTooLargeError",
    "PermissionDeniedError", "RateLimitError", "Readiness", "RouteurClient", "RouteurConnectionError",
    "RateLimitWait", "RouteurError", "RouteurTimeoutError", "SearchHit", "SearchResult", "ServerError", "Source", "StreamEvent",
    "TokenClaims", "TokenInfo", "UnsupportedMediaTypeError", "UploadResult", "UploadSession", "UploadedFile", "Usage",
]  # fmt: skip

DEFAULT_URL = "http://127.0.0.1:7860"
MAX_RETRY_WAIT_S = 30.0
"""The longest a 429 retry waits, whatever ``Retry-After`` says: a call should not hang for minutes."""

FileInput = str | os.PathLike[str] | tuple[str, bytes]
"""A file to upload: a path, or ``(filename, content)``."""


def _fields(**values: Any) -> dict[str, Any]:
    """Request fields without the unset ones, so the server applies its own defaults."""
    return {k: v for k, v in values.items() if v is not None}


def _segment(value: str) -> str:
    return quote(value, safe="")


def _one_file(item: FileInput) -> tuple[str, bytes, str]:
    """A multipart file part, read once so a retried request sends the same bytes."""
    if isinstance(item, tuple):
        name, data = item[0], bytes(item[1])
    else:
        path = Path(item)
        name, data = path.name, path.read_bytes()
    return name, data, mimetypes.guess_type(name)[0] or "application/octet-stream"


def _file_list(files: FileInput | Sequence[FileInput]) -> list[tuple[str, tuple[str, bytes, str]]]:
    """Multipart ``files`` fields, read once so a retried request sends the same bytes."""
    single = isinstance(files, str | os.PathLike) or (
        isinstance(files, tuple) and len(files) == 2 and isinstance(files[1], bytes | bytearray)
    )
    parts = []
    for item in [files] if single else list(files):  # type: ignore[list-item]
        parts.append(("files", _one_file(item)))
    if not parts:
        raise ValueError("No file to upload")
    return parts


class AsyncRouteurClient:
    """Async client of every route of the API, on one pooled ``httpx.AsyncClient``.

    ``token`` is used as is; without one the client asks ``/auth/token`` on first use (with
    ``client_id``/``client_secret`` as HTTP Basic when given) and renews it once on a 401.
    ``max_retries`` bounds the retries of a 429. ``transport`` replaces httpx's network
    transport (an ``httpx.AsyncBaseTransport``, e.g. for tests or a proxy).

    With ``pace`` (the default) requests to rate-limited routes wait for the next window once
    the server's announced limit is used up (``routeur.pacing``), rather than meeting a 429;
    ``on_rate_limit`` is called with a ``RateLimitWait`` before each such wait, and
    ``pacer.waited_s`` is the total so far."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        transport: httpx.AsyncBaseTransport | None = None,
        pace: bool = True,
        on_rate_limit: RateLimitCallback | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.pacer = RatePacer(on_rate_limit) if pace else None
        self._token = token
        self._owns_token = token is None
        self._credentials = (client_id, client_secret or "") if client_id else None
        self._token_lock = asyncio.Lock()
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def token(self) -> str | None:
        """The bearer token in use (None until the first authenticated call)."""
        return self._token

    # -- transport ---------------------------------------------------------------------------

    async def _bearer(self) -> str:
        if self._token is None:
            async with self._token_lock:
                if self._token is None:
                    await self.authenticate()
        assert self._token is not None
        return self._token

    async def _renew(self, refused: str) -> bool:
        """A new token after ``refused`` got a 401, unless another call already renewed it."""
        if not self._owns_token:
            return False
        async with self._token_lock:
            if self._token == refused:
                await self.authenticate()
        return True

    async def _send(
        self, method: str, path: str, *, bearer: bool = True, stream: bool = False, accept: tuple[int, ...] = (), **kwargs: Any
    ) -> httpx.Response:
        """One call: bearer token, a renewal on 401, 429 retries, typed errors.

        With ``stream`` the response is returned unread and the caller must close it. Status
        codes in ``accept`` are returned rather than raised (a 503 readiness report)."""
        retries, renewed = self.max_retries, False
        while True:
            token = await self._bearer() if bearer else None
            headers = {**kwargs.get("headers", {}), **({"Authorization": f"Bearer {token}"} if token else {})}
            request = self._http.build_request(method, path, **{**kwargs, "headers": headers})
            if self.pacer is not None:
                await self.pacer.acquire(path)
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.TimeoutException as exc:
                raise RouteurTimeoutError(f"No response from {self.base_url} in time ({type(exc).__name__})") from exc
            except httpx.TransportError as exc:
                raise RouteurConnectionError(f"Cannot reach {self.base_url}: {exc or type(exc).__name__}") from exc
            finally:
                if self.pacer is not None:
                    # Requests waiting on this one may go: with no answer, unpaced; with one, they
                    # resume only after ``update`` below has read it (no await in between).
                    self.pacer.settled(path)
            if self.pacer is not None:
                self.pacer.update(path, response.headers)
            if response.is_success or response.status_code in accept:
                return response
            if stream:
                await response.aread()
                await response.aclose()
            if response.status_code == 401 and token and not renewed and await self._renew(token):
                renewed = True
                continue
            if response.status_code == 429 and retries > 0:
                retries -= 1
                if self.pacer is not None and path in self.pacer.limited_paths:
                    self.pacer.exhausted(path, response.headers)  # the next acquire waits for the window
                    continue
                wait = retry_after_seconds(response)
                await asyncio.sleep(min(MAX_RETRY_WAIT_S, 1.0 if wait is None else wait))
                continue
            raise error_from_response(response)

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self._send(method, path, **kwargs)).json()

    async def _events(self, path: str, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """The decoded SSE messages of a POST, as ``{"event", "data"}``; the response is closed
        however the iteration ends, which is how the server learns to cancel the run."""
        response = await self._send("POST", path, json=body, stream=True, headers={"Accept": "text/event-stream"})
        try:
            async for message in EventSource(response).aiter_sse():
                yield {"event": message.event, "data": message.json()}
        except httpx.TransportError as exc:
            yield {"event": "error", "data": {"phase": "connection", "message": f"The stream broke: {exc or type(exc).__name__}"}}
        finally:
            await response.aclose()

    # -- auth, health, catalog ---------------------------------------------------------------

    async def authenticate(self) -> TokenInfo:
        """Get a new token from ``/auth/token`` (client credentials when given) and use it from now on."""
        headers = {}
        if self._credentials:
            pair = ":".join(self._credentials).encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        info = convert(await self._json("POST", "/auth/token", bearer=False, headers=headers), TokenInfo)
        self._token = info.access_token
        self._owns_token = True  # obtained here, so it may be renewed here
        return info

    async def verify(self) -> TokenClaims:
        """Who the token belongs to, when it expires and which projects it may use."""
        body = await self._json("GET", "/auth/verify")
        return convert({"valid": body["valid"], **body["user"]}, TokenClaims)

    async def health(self) -> Health:
        return convert(await self._json("GET", "/health", bearer=False), Health)

    async def ready(self) -> Readiness:
        """Whether the server can answer now (vector store, default model); never raises on 503."""
        return convert(await self._json("GET", "/health/ready", bearer=False, accept=(503,)), Readiness)

    async def models(self) -> list[ModelInfo]:
        return convert((await self._json("GET", "/models"))["models"], list[ModelInfo])

    async def agents(self) -> list[AgentInfo]:
        return convert((await self._json("GET", "/agents"))["agents"], list[AgentInfo])

    # -- completion and chat -----------------------------------------------------------------

    @staticmethod
    def _completion_body(message: str, history: Sequence[dict[str, str] | tuple[str, str]] | None = None, **options: Any) -> dict[str, Any]:
        turns = [m if isinstance(m, dict) else {"role": m[0], "content": m[1]} for m in history or ()]
        return _fields(message=message, conversation_history=turns or None, **options)

    async def complete(self, message: str, **options: Unpack[CompletionOptions]) -> Completion:
        """One stateless answer; ``history`` is the earlier turns, as dicts or (role, content)."""
        body = self._completion_body(message, **options)
        return convert(await self._json("POST", "/completion", json={**body, "stream": False}), Completion)

    async def complete_stream(self, message: str, **options: Unpack[CompletionOptions]) -> AsyncIterator[StreamEvent]:
        """``/completion`` streamed, mapped onto the chat stream's events: a ``chunk`` per content
        line, then ``done`` (answer, sources, metadata) or ``error``."""
        parts: list[str] = []
        async for raw in self._events("/completion", {**self._completion_body(message, **options), "stream": True}):
            line = raw["data"]
            if raw["event"] == "error" or "error" in line:
                yield parse_event({"event": "error", "data": line.get("error", line)})
                return
            if line.get("done"):
                metadata = line.get("metadata") or {}
                answer = {"answer": "".join(parts), "sources": metadata.get("sources", []), "metadata": metadata}
                yield parse_event({"event": "done", "data": answer})
                return
            parts.append(line["content"])
            yield parse_event({"event": "chunk", "data": {"content": line["content"]}})

    @staticmethod
    def _chat_body(message: str, session_id: str | None = None, **options: Any) -> dict[str, Any]:
        return _fields(message=message, sessionId=session_id, **options)

    async def chat(self, message: str, **options: Unpack[ChatOptions]) -> ChatAnswer:
        """One turn of a session kept by the server; pass the answer's ``session_id`` to go on."""
        return convert(await self._json("POST", "/api/v1/chat", json=self._chat_body(message, **options)), ChatAnswer)

    async def clear_session(self, session_id: str) -> None:
        """Forget a chat session's history (the id stays usable)."""
        await self._send("POST", "/api/v1/chat", json={"sessionId": session_id, "clear": True})

    async def chat_stream(self, message: str, **options: Unpack[ChatOptions]) -> AsyncIterator[StreamEvent]:
        """The chat turn's events in server order: ``session`` first, then phases, chunks,
        sources, and ``done`` or ``error``. Stopping early (``break``, closing the iterator) cancels the run."""
        async for raw in self._events("/api/v1/chat/stream", self._chat_body(message, **options)):
            event = parse_event(raw)
            yield event
            if event["event"] in ("done", "error"):
                return

    # -- documents, upload sessions, search --------------------------------------------------

    async def _upload(
        self, path: str, files: FileInput | Sequence[FileInput], title: str | None, url: str | None, **params: Any
    ) -> UploadResult:
        response = await self._send("POST", path, files=_file_list(files), data=_fields(title=title, url=url), params=_fields(**params))
        if response.status_code != 202:
            return convert(response.json(), UploadResult)
        job = await self.wait_for_job(convert(response.json(), IngestionJob))
        result = UploadResult(project_id=job.project_id, files=[f.as_uploaded(url) for f in job.files])
        if result.files and not any(f.ok for f in result.files):
            first = result.files[0]
            raise error_for_status(first.status_code, first.message or "No file could be ingested")
        return result

    async def upload_documents(
        self,
        project_id: str,
        files: FileInput | Sequence[FileInput],
        *,
        title: str | None = None,
        url: str | None = None,
        on_conflict: str | None = None,
    ) -> UploadResult:
        """Upload and ingest one file or several (paths or ``(name, bytes)``), returning once they
        are stored (a batch the server runs as a background job is polled until done). Each file
        has its own status and ``outcome``; the call raises only when no file could be ingested.
        ``on_conflict``: "replace" (the server's default), "reject" or "rename"."""
        return await self._upload(f"/projects/{_segment(project_id)}/documents", files, title, url, on_conflict=on_conflict)

    async def submit_documents(
        self,
        project_id: str,
        files: FileInput | Sequence[FileInput],
        *,
        title: str | None = None,
        url: str | None = None,
        on_conflict: str | None = None,
    ) -> IngestionJob:
        """Queue files as a background ingestion job and return at once; follow it with
        ``get_job`` or ``wait_for_job``."""
        path = f"/projects/{_segment(project_id)}/documents"
        params = _fields(on_conflict=on_conflict, background="true")
        response = await self._send("POST", path, files=_file_list(files), data=_fields(title=title, url=url), params=params)
        return convert(response.json(), IngestionJob)

    async def get_job(self, project_id: str, job_id: str) -> IngestionJob:
        return convert(await self._json("GET", f"/projects/{_segment(project_id)}/jobs/{_segment(job_id)}"), IngestionJob)

    async def wait_for_job(self, job: IngestionJob, *, poll_s: float = 0.5, timeout_s: float | None = None) -> IngestionJob:
        """Poll until every file of the job is ``indexed`` or ``error``; ``RouteurTimeoutError``
        after ``timeout_s`` (the job goes on on the server)."""
        deadline = None if timeout_s is None else asyncio.get_running_loop().time() + timeout_s
        while not job.done:
            if deadline is not None and asyncio.get_running_loop().time() > deadline:
                raise RouteurTimeoutError(f"Ingestion job {job.id} not done after {timeout_s} s (it goes on on the server)")
            await asyncio.sleep(poll_s)
            job = await self.get_job(job.project_id, job.id)
        return job

    async def list_jobs(self, project_id: str, *, status: str | None = None, page: int = 1, page_size: int = 50) -> JobPage:
        """The project's ingestion jobs, newest first; ``status``: "active" (a file still queued
        or in progress) or "finished"."""
        params = _fields(status=status, page=page, page_size=page_size)
        return convert(await self._json("GET", f"/projects/{_segment(project_id)}/jobs", params=params), JobPage)

    async def list_documents(self, project_id: str, *, page: int = 1, page_size: int = 50) -> DocumentPage:
        path = f"/projects/{_segment(project_id)}/documents"
        return convert(await self._json("GET", path, params={"page": page, "page_size": page_size}), DocumentPage)

    async def iter_documents(self, project_id: str, *, page_size: int = 200) -> AsyncIterator[Document]:
        """Every document of the project, fetching the pages as the iteration needs them."""
        page = 1
        while True:
            listing = await self.list_documents(project_id, page=page, page_size=page_size)
            for document in listing.items:
                yield document
            if not listing.has_next or not listing.items:
                return
            page += 1

    async def get_document(self, project_id: str, file_id: str) -> Document:
        return convert(await self._json("GET", f"/projects/{_segment(project_id)}/documents/{_segment(file_id)}"), Document)

    async def delete_document(self, project_id: str, file_id: str) -> int:
        """Delete a document and its chunks; returns how many chunks were removed."""
        body = await self._json("DELETE", f"/projects/{_segment(project_id)}/documents/{_segment(file_id)}")
        return int(body["chunks"])

    async def open_upload_session(self, project_id: str) -> UploadSession:
        """A session to add files to over several calls, and to delete with all its documents."""
        return convert(await self._json("POST", f"/projects/{_segment(project_id)}/upload-sessions"), UploadSession)

    async def add_to_upload_session(
        self, project_id: str, session_id: str, files: FileInput | Sequence[FileInput], *, title: str | None = None, url: str | None = None
    ) -> UploadResult:
        """Upload files into an upload session (recorded there with their status)."""
        return await self._upload(f"/projects/{_segment(project_id)}/upload-sessions/{_segment(session_id)}", files, title, url)

    async def get_upload_session(self, project_id: str, session_id: str) -> UploadSession:
        path = f"/projects/{_segment(project_id)}/upload-sessions/{_segment(session_id)}"
        return convert(await self._json("GET", path), UploadSession)

    async def delete_upload_session(self, project_id: str, session_id: str) -> int:
        """Delete the session and the documents it ingested; returns how many documents went."""
        body = await self._json("DELETE", f"/projects/{_segment(project_id)}/upload-sessions/{_segment(session_id)}")
        return int(body["documents_deleted"])

    async def search(
        self, project_id: str, query: str, *, top_k: int | None = None, mode: str | None = None, sources: list[str] | None = None
    ) -> SearchResult:
        """Retrieval only (no answer): the project's best chunks; ``mode`` is dense, sparse or hybrid."""
        body = _fields(query=query, top_k=top_k, mode=mode, sources=sources)
        return convert(await self._json("POST", f"/projects/{_segment(project_id)}/search", json=body), SearchResult)

    # -- batches -----------------------------------------------------------------------------

    # -- transcription ----------------------------------------------------------------------

    async def transcribe(self, file: FileInput, language: str | None = None) -> Transcription:
        """Speech to text of one audio file (a path or ``(name, bytes)``); ``language``
        (ISO-639-1) skips detection when known."""
        response = await self._send("POST", "/transcription", files={"file": _one_file(file)}, params=_fields(language=language))
        return convert(response.json(), Transcription)

    async def transcribe_meeting(
        self,
        file: FileInput,
        project_id: str | None = None,
        max_duration_seconds: float | None = None,
        store: bool = False,
        model: str | None = None,
        *,
        language: str | None = None,
    ) -> MeetingMinutes:
        """A meeting's recording transcribed and written up as minutes (summary, decisions,
        actions, participants), by ``model`` or the server's offline extraction; ``store`` keeps
        the minutes as a document of ``project_id`` (the token's default project when None)."""
        fields = _fields(project_id=project_id, max_duration_seconds=max_duration_seconds, model=model)
        response = await self._send(
            "POST", "/transcription/meeting", files={"file": _one_file(file)},
            data={**{k: str(v) for k, v in fields.items()}, "store": "true" if store else "false"}, params=_fields(language=language),
        )  # fmt: skip
        return convert(response.json(), MeetingMinutes)

    async def transcription_formats(self) -> TranscriptionFormats:
        return convert(await self._json("GET", "/transcription/supported-formats"), TranscriptionFormats)

    async def complete_batch(
        self,
        requests: Sequence[dict[str, Any] | str],
        *,
        max_concurrent: int = 4,
        progress: ProgressCallback | bool | None = None,
    ) -> list[Completion | Exception]:
        """``complete(**request)`` for each request (a bare string is a message), at most
        ``max_concurrent`` in flight. Results come in input order; a failed request is its
        exception in its place. ``progress``: a ``(done, total, result)`` callback or True (tqdm)."""
        items = [{"message": r} if isinstance(r, str) else dict(r) for r in requests]
        return await run_batch(
            items, lambda kwargs: self.complete(**kwargs), max_concurrent=max_concurrent, progress=progress, description="Completions"
        )

    async def search_batch(
        self,
        project_id: str,
        queries: Sequence[str],
        *,
        max_concurrent: int = 4,
        progress: ProgressCallback | bool | None = None,
        **search_kwargs: Any,
    ) -> list[SearchResult | Exception]:
        """``search`` for each query, like ``complete_batch`` (same order, failures in place)."""
        return await run_batch(
            list(queries),
            lambda query: self.search(project_id, query, **search_kwargs),
            max_concurrent=max_concurrent,
            progress=progress,
            description="Searches",
        )


_PUBLIC = [
    name
    for name, member in vars(AsyncRouteurClient).items()
    if not name.startswith("_") and (inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member)) and name != "aclose"
]


async def _next(stream: AsyncIterator[Any]) -> Any:
    return await anext(stream)


def _blocking_iterator(portal: anyio.from_thread.BlockingPortal, stream: Any) -> Iterator[Any]:
    """Pull an async generator through the portal; closing this generator (a ``break``, garbage
    collection, ``close()``) closes the async one, which closes the HTTP response."""
    try:
        while True:
            try:
                yield portal.call(_next, stream)
            except StopAsyncIteration:
                return
    finally:
        try:
            portal.call(stream.aclose)
        except RuntimeError:  # the client was closed first: its connections are gone already
            pass


def _blocking(name: str) -> Any:
    """A sync method of ``RouteurClient`` made from the async method ``name``."""
    method = getattr(AsyncRouteurClient, name)
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        def iterate(self: RouteurClient, *args: Any, **kwargs: Any) -> Iterator[Any]:
            return _blocking_iterator(self._portal, getattr(self._async, name)(*args, **kwargs))

        signature = inspect.signature(method)
        returns = str(signature.return_annotation).replace("AsyncIterator", "Iterator")
        iterate.__signature__ = signature.replace(return_annotation=returns)  # type: ignore[attr-defined]
        return iterate

    @functools.wraps(method)
    def call(self: RouteurClient, *args: Any, **kwargs: Any) -> Any:
        return self._portal.call(functools.partial(getattr(self._async, name), *args, **kwargs))

    return call


class RouteurClient:
    """The blocking client: the same methods as ``AsyncRouteurClient`` (same arguments and
    results; streams are plain iterators), run on the client's own event loop in a thread.
    Takes the same options as ``AsyncRouteurClient`` (``transport`` is an async transport)."""

    def __init__(self, base_url: str = DEFAULT_URL, **options: Any):
        self._closed = False
        self._exit = ExitStack()
        self._portal = self._exit.enter_context(anyio.from_thread.start_blocking_portal())
        try:
            self._async = self._portal.call(functools.partial(AsyncRouteurClient, base_url, **options))
        except BaseException:
            self._exit.close()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections and stop the client's event loop thread (idempotent)."""
        with self._exit:
            if not self._closed:
                self._closed = True
                self._portal.call(self._async.aclose)

    @property
    def token(self) -> str | None:
        return self._async.token

    @property
    def base_url(self) -> str:
        return self._async.base_url

    @property
    def pacer(self) -> RatePacer | None:
        """The rate-limit state the server announced (``None`` with ``pace=False``)."""
        return self._async.pacer


for _name in _PUBLIC:
    setattr(RouteurClient, _name, _blocking(_name))

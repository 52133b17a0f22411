"""Audio uploads to transcripts and meeting minutes: the checks every upload goes through (type
415, size 413, undecodable or too long 400), the transcriber call (an unknown language 400, a
failing remote provider or chat model 502), and the minutes stored as a document of the project on request."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime

import httpx
import openai
from langchain_core.exceptions import OutputParserException
from pydantic import ValidationError
from litestar.datastructures import UploadFile
from litestar.exceptions import HTTPException, ValidationException

from api.auth import Principal
from api.schemas import (
    MeetingAction,
    MeetingForm,
    MeetingReportBody,
    MeetingResponse,
    StoredReport,
    TranscriptionResponse,
    TranscriptionUsage,
)
from api.services.turns import resolve_project
from nodes.meeting import render_markdown, write_report
from nodes.models.factory import ModelRegistry
from nodes.models.speech import (
    AudioError,
    DecodedAudio,
    Transcriber,
    Transcript,
    TranscriptionProviderError,
    UnsupportedAudioError,
    UnsupportedLanguageError,
    check_format,
    decode,
)
from retrievers.base import DocumentStore
from retrievers.ingestion import ingest_bytes
from routeur.settings import Settings


async def read_audio(upload: UploadFile | None, settings: Settings, max_seconds: float) -> tuple[str, bytes, DecodedAudio]:
    """The upload's name, bytes and decoded audio, or the HTTP error that says what is wrong."""
    if upload is None:
        raise ValidationException("No audio in the request: send it as the multipart field 'file'")
    name = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    try:
        check_format(name)
    except UnsupportedAudioError as exc:
        raise HTTPException(status_code=415, detail=str(exc)) from exc
    data = await upload.read()
    if len(data) > settings.transcription_max_bytes:
        limit = settings.transcription_max_bytes
        raise HTTPException(status_code=413, detail=f"'{name}' is {len(data)} bytes, over the {limit}-byte limit for audio ({limit / 2**20:.2f} MB)")
    try:
        audio = await asyncio.to_thread(decode, data, max_seconds)
    except AudioError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    return name, data, audio


async def transcribe(transcriber: Transcriber, settings: Settings, name: str, data: bytes, audio: DecodedAudio, language: str | None) -> Transcript:
    try:
        return await transcriber.transcribe(audio, data=data, filename=name, language=language or settings.transcription_language)
    except UnsupportedLanguageError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    except TranscriptionProviderError as exc:
        raise HTTPException(status_code=502, detail=str(exc)) from exc


async def transcription(
    transcriber: Transcriber, settings: Settings, upload: UploadFile | None, language: str | None
) -> TranscriptionResponse:
    started = time.perf_counter()
    name, data, audio = await read_audio(upload, settings, settings.transcription_max_duration_s)
    transcript = await transcribe(transcriber, settings, name, data, audio, language)
    return TranscriptionResponse(
        text=transcript.text,
        language=transcript.language,
        duration=round(transcript.duration, 3),
        model=transcript.model,
        usage=TranscriptionUsage(seconds=round(transcript.duration, 3)),
        metadata={**transcript.metrics(settings.electricity_mix_zone), "latency_s": round(time.perf_counter() - started, 4)},
    )


def max_duration(settings: Settings, asked: float | None) -> float:
    """The meeting's duration limit: the caller's, never above the deployment's."""
    if asked is None:
        return settings.transcription_max_duration_s
    if not math.isfinite(asked) or asked <= 0:
        raise ValidationException("max_duration_seconds must be a positive number of seconds")
    return min(asked, settings.transcription_max_duration_s)


async def meeting(
    form: MeetingForm,
    *,
    language: str | None,
    principal: Principal,
    transcriber: Transcriber,
    models: ModelRegistry,
    store: DocumentStore,
    settings: Settings,
) -> MeetingResponse:
    """Transcribe a meeting, have the chat model write its minutes, store them when asked."""
    started = time.perf_counter()
    project_id = resolve_project(principal, form.project_id)
    report_model = form.model or settings.default_model
    models.ensure_available(report_model)
    limit = max_duration(settings, form.max_duration_seconds)
    name, data, audio = await read_audio(form.file, settings, limit)
    transcript = await transcribe(transcriber, settings, name, data, audio, language)
    try:
        written = await write_report(transcript.text, transcript.language, models, report_model, settings.electricity_mix_zone)
    except (openai.APIError, httpx.HTTPError, ValidationError, OutputParserException) as exc:
        raise HTTPException(status_code=502, detail=f"The chat model '{report_model}' failed to write the minutes: {exc}") from exc
    report = written.report
    minutes = render_markdown(report, transcript.language)
    document = await _store(store, settings, project_id, name, render_markdown(report, transcript.language, transcript.text)) if form.store else None
    return MeetingResponse(
        text=minutes,
        language=transcript.language,
        duration=round(transcript.duration, 3),
        model=transcript.model,
        report=MeetingReportBody(
            summary=report.summary,
            decisions=list(report.decisions),
            actions=[MeetingAction(task=a.task, owner=a.owner, due=a.due) for a in report.actions],
            participants=list(report.participants),
        ),
        report_model=written.model,
        transcript=transcript.text,
        project_id=project_id,
        document=document,
        usage=TranscriptionUsage(seconds=round(transcript.duration, 3)),
        metadata={
            "transcription": transcript.metrics(settings.electricity_mix_zone),
            "report": written.metrics,
            "latency_s": round(time.perf_counter() - started, 4),
        },
    )


async def _store(store: DocumentStore, settings: Settings, project_id: str, audio_name: str, markdown: str) -> StoredReport:
    """The minutes and transcript as a Markdown document of the project, under a name of its
    own (the recording's name and the time), so each meeting is a new document."""
    now = datetime.now(UTC)
    stem = audio_name.rsplit(".", 1)[0] or "meeting"
    filename = f"meeting-{now:%Y%m%dT%H%M%S%fZ}-{stem}.md"
    title = f"Meeting {stem} ({now:%Y-%m-%d %H:%M} UTC)"
    result = await ingest_bytes(store, project_id=project_id, filename=filename, data=markdown.encode(), title=title, settings=settings)
    return StoredReport(project_id=project_id, file_id=result.file_id, title=result.title, chunks=result.chunks)

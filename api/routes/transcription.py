"""``/transcription``: speech to text, meeting minutes, and what audio is accepted."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, QueryParameter

from api.auth import Principal
from api.errors import ERROR_RESPONSES
from api.schemas import Language, MeetingForm, MeetingResponse, SupportedFormats, TranscriptionForm, TranscriptionResponse
from api.services import transcription as service
from nodes.models.factory import ModelRegistry
from nodes.models.speech import SUPPORTED_FORMATS, Transcriber
from retrievers.base import DocumentStore
from routeur.settings import Settings

LanguageQuery = Annotated[Language | None, QueryParameter(description="Spoken language (ISO-639-1); default: the deployment's, else detected")]


class TranscriptionController(Controller):
    path = "/transcription"
    tags = ["transcription"]

    @post("/", responses=ERROR_RESPONSES, status_code=200, summary="Transcribe an audio file (multipart 'file')")
    async def transcribe(
        self,
        transcriber: NamedDependency[Transcriber],
        settings: NamedDependency[Settings],
        data: Annotated[TranscriptionForm, Body(media_type=RequestEncodingType.MULTI_PART)],
        language: LanguageQuery = None,
    ) -> TranscriptionResponse:
        return await service.transcription(transcriber, settings, data.file, language)

    @post(
        "/meeting",
        responses=ERROR_RESPONSES,
        status_code=200,
        summary="Transcribe a meeting and write its minutes (multipart 'file', 'project_id', 'max_duration_seconds', 'store', 'model')",
    )
    async def meeting(
        self,
        transcriber: NamedDependency[Transcriber],
        models: NamedDependency[ModelRegistry],
        store: NamedDependency[DocumentStore],
        settings: NamedDependency[Settings],
        data: Annotated[MeetingForm, Body(media_type=RequestEncodingType.MULTI_PART)],
        request: Request[Principal, Any, Any],
        language: LanguageQuery = None,
    ) -> MeetingResponse:
        return await service.meeting(
            data, language=language, principal=request.user, transcriber=transcriber, models=models, store=store, settings=settings
        )

    @get("/supported-formats", responses=ERROR_RESPONSES, summary="Accepted audio formats, limits and model")
    async def supported_formats(self, transcriber: NamedDependency[Transcriber], settings: NamedDependency[Settings]) -> SupportedFormats:
        return SupportedFormats(
            supported_formats=list(SUPPORTED_FORMATS),
            max_file_size_mb=round(settings.transcription_max_bytes / (1024 * 1024), 2),
            max_duration_seconds=settings.transcription_max_duration_s,
            model=transcriber.model,
            provider=transcriber.provider,
            languages="Auto-detection or specify ISO-639-1 code",
            default_language=settings.transcription_language,
        )

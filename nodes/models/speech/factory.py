"""The transcriber a deployment's settings declare."""

from __future__ import annotations

from nodes.models.speech.base import Transcriber
from routeur.settings import Settings


def build_transcriber(settings: Settings) -> Transcriber:
    """Cheap: the local model is assembled and loaded on first use, not here."""
    if settings.transcription_provider == "openai-compatible":
        from nodes.models.speech.remote import OpenAICompatibleTranscriber

        key = settings.transcription_api_key
        return OpenAICompatibleTranscriber(
            settings.transcription_base_url or "",
            settings.transcription_model,
            api_key=key.get_secret_value() if key else None,
            response_format=settings.transcription_response_format,
            timeout_s=settings.transcription_timeout_s,
            max_retries=settings.model_max_retries,
        )
    from nodes.models.speech.local import LocalWhisper

    return LocalWhisper(
        settings.resolved_transcription_model_dir(),
        cpu_threads=settings.transcription_cpu_threads,
        batch_size=settings.transcription_batch_size,
        concurrency=settings.transcription_concurrency,
    )

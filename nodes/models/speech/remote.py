"""Any OpenAI-compatible ``/audio/transcriptions`` endpoint (OpenAI ``whisper-1`` or
``gpt-4o-transcribe``, a hosted LLM service, a self-hosted whisper server), through the official
``openai`` client: its retries, timeouts and error types."""

from __future__ import annotations

import time

import openai

from nodes.models.speech.audio import DecodedAudio
from nodes.models.speech.base import Progress, Transcript, TranscriptionProviderError


class OpenAICompatibleTranscriber:
    provider = "openai-compatible"

    def __init__(self, base_url: str, model: str, *, api_key: str | None, response_format: str = "verbose_json", timeout_s: float = 300.0, max_retries: int = 2):
        self.model = model
        self.response_format = response_format
        # The client refuses to start without a key; a self-hosted server usually needs none.
        self._client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key or "not-needed", timeout=timeout_s, max_retries=max_retries)

    async def transcribe(
        self, audio: DecodedAudio, *, data: bytes, filename: str, language: str | None = None, progress: Progress | None = None
    ) -> Transcript:
        started = time.perf_counter()
        extra = {"language": language} if language else {}
        try:
            result = await self._client.audio.transcriptions.create(
                file=(filename, data), model=self.model, response_format=self.response_format, **extra
            )
        except openai.APIError as exc:
            raise TranscriptionProviderError(f"The transcription provider failed: {exc}") from exc
        text = getattr(result, "text", None)
        if not isinstance(text, str):
            raise TranscriptionProviderError("The transcription provider's answer has no text")
        if progress is not None:
            progress(audio.duration)
        detected = getattr(result, "language", None)
        return Transcript(
            text=text.strip(),
            language=_iso_code(detected) if isinstance(detected, str) else language,
            duration=audio.duration,
            model=self.model,
            provider=self.provider,
            seconds=time.perf_counter() - started,
        )


# verbose_json names the language in English ("french"); the API's own field is ISO-639-1.
_LANGUAGE_CODES = {
    "french": "fr", "english": "en", "german": "de", "spanish": "es", "italian": "it", "portuguese": "pt",
    "dutch": "nl", "russian": "ru", "chinese": "zh", "japanese": "ja", "arabic": "ar", "polish": "pl",
}  # fmt: skip


def _iso_code(name: str) -> str:
    lowered = name.strip().lower()
    return _LANGUAGE_CODES.get(lowered, lowered)

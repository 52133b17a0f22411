"""What every speech-to-text provider returns, and the interface the API and the CLI call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from nodes.models.speech.audio import DecodedAudio

Progress = Callable[[float], None]
"""Called with the seconds of audio transcribed so far."""


class UnsupportedLanguageError(ValueError):
    """A language code the model does not know (the caller's mistake)."""


class TranscriptionProviderError(RuntimeError):
    """The remote provider failed or answered something unusable (not the caller's fault)."""


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str | None
    duration: float  # seconds of audio
    model: str
    provider: str
    seconds: float  # processing time
    segments: int = 0  # speech segments transcribed (local provider)

    def metrics(self, electricity_mix_zone: str) -> dict[str, Any]:
        """Usage figures of one transcription. Energy and emissions stay null: no published
        figure covers speech models (EcoLogits estimates text generation only)."""
        return {
            "provider": self.provider,
            "model": self.model,
            "audio_duration_s": round(self.duration, 3),
            "latency_s": round(self.seconds, 4),
            "real_time_factor": round(self.duration / self.seconds, 2) if self.seconds > 0 else None,
            "segments": self.segments or None,
            "energy_kWh": None,
            "emissions_kgCO2eq": None,
            "electricity_mix_zone": electricity_mix_zone,
        }


@runtime_checkable
class Transcriber(Protocol):
    """Speech to text. ``audio`` is the decoded audio (checked and measured by the caller);
    ``data`` and ``filename`` are the original file, for providers that take the file itself."""

    model: str
    provider: str

    async def transcribe(
        self, audio: DecodedAudio, *, data: bytes, filename: str, language: str | None = None, progress: Progress | None = None
    ) -> Transcript: ...

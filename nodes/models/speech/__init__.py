"""Speech to text, part of the model layer: accepted formats and bounded decoding (``audio``),
the provider interface (``base``), the offline Whisper base model's files (``bundle``), its
faster-whisper runner (``local``), any OpenAI-compatible endpoint (``remote``), and the choice
between them by settings (``factory``)."""

from nodes.models.speech.audio import (
    SUPPORTED_FORMATS,
    AudioError,
    AudioTooLongError,
    DecodedAudio,
    UndecodableAudioError,
    UnsupportedAudioError,
    check_format,
    decode,
)
from nodes.models.speech.base import Transcriber, Transcript, TranscriptionProviderError, UnsupportedLanguageError
from nodes.models.speech.factory import build_transcriber

__all__ = [
    "SUPPORTED_FORMATS",
    "AudioError",
    "AudioTooLongError",
    "DecodedAudio",
    "Transcriber",
    "Transcript",
    "TranscriptionProviderError",
    "UndecodableAudioError",
    "UnsupportedAudioError",
    "UnsupportedLanguageError",
    "build_transcriber",
    "check_format",
    "decode",
]

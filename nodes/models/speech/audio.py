"""Audio in: which formats are accepted, and decoding to what Whisper reads (16 kHz mono float32).

Decoding is PyAV's (FFmpeg bundled, no system package). It stops as soon as the audio runs past
the allowed duration, so a small file of a very low bitrate cannot expand into gigabytes of
samples before it is refused.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np

SAMPLE_RATE = 16_000
SUPPORTED_FORMATS: tuple[str, ...] = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")
"""File extensions accepted, as OpenAI's ``/audio/transcriptions`` accepts them, so a file either
provider takes is taken by both."""


class AudioError(ValueError):
    """The caller's audio cannot be transcribed; the subclass says why."""


class UnsupportedAudioError(AudioError):
    """A file type that is not audio we accept (by its extension)."""


class UndecodableAudioError(AudioError):
    """An accepted extension whose content is not decodable audio (corrupt, empty, or another format)."""


class AudioTooLongError(AudioError):
    """Audio longer than the allowed duration."""


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # float32, mono, SAMPLE_RATE Hz

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def check_format(filename: str) -> str:
    """The file's format (its lower-case extension), or ``UnsupportedAudioError``."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in SUPPORTED_FORMATS:
        shown = f"'.{extension}'" if extension else "no extension"
        raise UnsupportedAudioError(f"Unsupported audio file '{name}' ({shown}). Supported: {', '.join(SUPPORTED_FORMATS)}")
    return extension


def decode(data: bytes, max_seconds: float) -> DecodedAudio:
    """``data`` as 16 kHz mono samples; ``AudioTooLongError`` once it passes ``max_seconds``,
    ``UndecodableAudioError`` when it holds no decodable audio. CPU-bound: call it in a thread."""
    limit = int(max_seconds * SAMPLE_RATE)
    pieces: list[np.ndarray] = []
    total = 0
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise UndecodableAudioError("The file holds no audio stream")
            for frame in _frames(container):
                for out in resampler.resample(frame):
                    pieces.append(out.to_ndarray().reshape(-1))
                    total += out.samples
                if total > limit:
                    raise AudioTooLongError(f"The audio is longer than the allowed {max_seconds:g} seconds")
            for out in resampler.resample(None):
                pieces.append(out.to_ndarray().reshape(-1))
                total += out.samples
    except (av.error.FFmpegError, ValueError) as exc:
        if isinstance(exc, AudioError):
            raise
        raise UndecodableAudioError(f"The file could not be decoded as audio ({exc})") from exc
    if total > limit:
        raise AudioTooLongError(f"The audio is longer than the allowed {max_seconds:g} seconds")
    if total == 0:
        raise UndecodableAudioError("The file holds no audio samples")
    return DecodedAudio(np.concatenate(pieces).astype(np.float32) / 32768.0)


def _frames(container: av.container.InputContainer):
    """The audio frames, skipping the ones FFmpeg reports invalid (a damaged frame in an
    otherwise good recording), as faster-whisper's own decoder does."""
    frames = container.decode(audio=0)
    while True:
        try:
            yield next(frames)
        except StopIteration:
            return
        except av.error.InvalidDataError:
            continue

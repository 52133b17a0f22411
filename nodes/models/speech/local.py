"""The offline provider: Whisper base run by faster-whisper (CTranslate2, int8 on the CPU).

The model is loaded once per process, on first use and in a worker thread, then shared by
every transcriber built with the same files and threads. Long audio is cut at pauses by
faster-whisper's voice activity detection (Silero VAD) into segments of at most 30 s, decoded
``batch_size`` at a time (its ``BatchedInferencePipeline``); ``concurrency`` transcriptions
run at once, more wait.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

from nodes.models.speech.audio import DecodedAudio
from nodes.models.speech.base import Progress, Transcript, UnsupportedLanguageError
from nodes.models.speech.bundle import MODEL_NAME, ensure_model_dir, verify

BEAM_SIZE = 5
_MODELS: dict[tuple[str, int, int], object] = {}
_LOAD_LOCK = threading.Lock()


def load_pipeline(model_dir: Path, cpu_threads: int, workers: int):
    """faster-whisper's batched pipeline on the assembled model, built once per process."""
    key = (str(model_dir), cpu_threads, workers)
    with _LOAD_LOCK:
        if key not in _MODELS:
            from faster_whisper import BatchedInferencePipeline, WhisperModel

            directory = ensure_model_dir(model_dir)
            verify(directory)
            model = WhisperModel(str(directory), device="cpu", compute_type="int8", cpu_threads=cpu_threads, num_workers=workers)
            _MODELS[key] = BatchedInferencePipeline(model)
        return _MODELS[key]


class LocalWhisper:
    provider = "local"
    model = MODEL_NAME

    def __init__(self, model_dir: Path, *, cpu_threads: int | None = None, batch_size: int = 4, concurrency: int = 1):
        self.model_dir = model_dir
        self.cpu_threads = cpu_threads or os.cpu_count() or 1
        self.batch_size = batch_size
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)

    async def load(self) -> None:
        """Assemble and load the model now (else on the first transcription)."""
        await asyncio.to_thread(load_pipeline, self.model_dir, self.cpu_threads, self.concurrency)

    async def transcribe(
        self, audio: DecodedAudio, *, data: bytes, filename: str, language: str | None = None, progress: Progress | None = None
    ) -> Transcript:
        """A caller that goes away (a client disconnecting) stops the work after the batch in
        progress; its slot stays taken until the worker thread has really finished, so the
        concurrency bound holds."""
        stop = threading.Event()
        await self._slots.acquire()
        work = asyncio.ensure_future(asyncio.to_thread(self.transcribe_sync, audio, language, progress, stop))
        work.add_done_callback(lambda _: self._slots.release())
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            stop.set()
            raise

    def transcribe_sync(
        self, audio: DecodedAudio, language: str | None = None, progress: Progress | None = None, stop: threading.Event | None = None
    ) -> Transcript:
        """Blocking transcription (the CLI and benchmarks call it directly); ``stop`` ends it
        after the current batch of segments."""
        pipeline = load_pipeline(self.model_dir, self.cpu_threads, self.concurrency)
        if language is not None and language not in pipeline.model.supported_languages:
            raise UnsupportedLanguageError(f"Unknown language '{language}': use an ISO-639-1 code such as fr or en")
        started = time.perf_counter()
        segments, info = pipeline.transcribe(audio.samples, language=language, batch_size=self.batch_size, beam_size=BEAM_SIZE)
        texts: list[str] = []
        for segment in segments:
            texts.append(segment.text.strip())
            if progress is not None:
                progress(min(segment.end, audio.duration))
            if stop is not None and stop.is_set():
                break
        else:
            if progress is not None:
                progress(audio.duration)
        return Transcript(
            text=" ".join(t for t in texts if t),
            language=info.language,
            duration=audio.duration,
            model=self.model,
            provider=self.provider,
            seconds=time.perf_counter() - started,
            segments=len(texts),
        )

"""``routeur transcribe FILE``: speech to text from a terminal, with the deployment's provider
(the offline model by default) and a progress bar in seconds of audio on stderr."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from tqdm import tqdm

from routeur.settings import Settings


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "transcribe",
        help="Transcribe an audio file (offline Whisper base by default)",
        description="Speech to text with the deployment's provider (ROUTEUR_TRANSCRIPTION_PROVIDER): offline Whisper base\n"
        "by default, which needs no key. The transcript goes to stdout, a progress bar in seconds of audio to stderr.",
        epilog="examples:\n  routeur transcribe reunion.mp3 --language fr\n  routeur transcribe note.wav --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", type=Path, help="Audio file: " + ", ".join(("flac", "m4a", "mp3", "mp4", "ogg", "wav", "webm")) + "...")
    parser.add_argument("--language", default=None, help="Spoken language, ISO-639-1 (default: ROUTEUR_TRANSCRIPTION_LANGUAGE, else detected)")
    parser.add_argument("--json", action="store_true", help="Print the transcript with its language, duration, model and metrics as JSON")


async def transcribe_file(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: the audio stack (PyAV, CTranslate2) is slow to load for every other command.
    from nodes.models.speech import AudioError, TranscriptionProviderError, UnsupportedLanguageError, build_transcriber, check_format, decode

    try:
        check_format(args.file.name)
        data = args.file.read_bytes()
        audio = await asyncio.to_thread(decode, data, settings.transcription_max_duration_s)
    except (AudioError, OSError) as exc:
        print(f"routeur transcribe: {exc}", file=sys.stderr)
        return 2
    transcriber = build_transcriber(settings)
    with tqdm(total=round(audio.duration, 1), unit="s", desc=args.file.name, file=sys.stderr, bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s audio [{elapsed}<{remaining}]") as bar:

        def progress(seconds: float) -> None:
            bar.update(round(seconds, 1) - bar.n)

        try:
            transcript = await transcriber.transcribe(
                audio, data=data, filename=args.file.name, language=args.language or settings.transcription_language, progress=progress
            )
        except (UnsupportedLanguageError, TranscriptionProviderError) as exc:
            bar.close()
            print(f"routeur transcribe: {exc}", file=sys.stderr)
            return 2 if isinstance(exc, UnsupportedLanguageError) else 1
    if args.json:
        body = {
            "text": transcript.text,
            "language": transcript.language,
            "duration": round(transcript.duration, 3),
            "model": transcript.model,
            "metadata": transcript.metrics(settings.electricity_mix_zone),
        }
        print(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        print(transcript.text)
    return 0

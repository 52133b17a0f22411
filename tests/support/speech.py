"""Real speech made on this machine for the transcription tests: Debian's ``espeak-ng`` speaks
French into a WAV, ``sox`` converts it to the other formats. Whisper mishears espeak's robotic
voice now and then, so tests assert on key words, never on the exact text."""

from __future__ import annotations

import subprocess
from pathlib import Path

# Spoken at 150 words per minute: Whisper base hears espeak's French best near that rate.
SPEED = 150
GREETING = "Bonjour, ceci est un test de transcription audio. La réunion de budget commence demain matin."
GREETING_WORDS = ("bonjour", "test", "audio", "demain matin")
MEETING = (
    "Bonjour Marie. Bonjour Paul. Nous avons décidé de lancer le projet en janvier. "
    "Paul doit envoyer le budget avant vendredi. Marie va préparer la présentation."
)


def speak(text: str, path: Path, *, speed: int = SPEED) -> Path:
    """``text`` spoken in French by espeak-ng into the WAV ``path``."""
    subprocess.run(["espeak-ng", "-v", "fr", "-s", str(speed), "-w", str(path), text], check=True, capture_output=True, timeout=60)
    return path


def convert(source: Path, target: Path) -> Path:
    """``source`` converted by sox to the format of ``target``'s extension (flac, ogg...)."""
    subprocess.run(["sox", str(source), str(target)], check=True, capture_output=True, timeout=60)
    return target


def words_found(text: str, words: tuple[str, ...]) -> list[str]:
    lowered = text.casefold()
    return [w for w in words if w in lowered]

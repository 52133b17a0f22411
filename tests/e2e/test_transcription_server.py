"""Transcription through real processes: ``routeur serve`` answering a multipart upload, and the
``routeur transcribe`` command with its progress bar."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.api_support import ROOT, ServerProcess
from tests.support.speech import GREETING, GREETING_WORDS, speak, words_found

ROUTEUR = str(Path(sys.executable).parent / "routeur")


@pytest.fixture(scope="module")
def greeting(tmp_path_factory):
    return speak(GREETING, tmp_path_factory.mktemp("audio") / "greeting.wav")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return str(tmp_path_factory.getbasetemp() / "whisper-base")


def test_server_transcribes_an_upload(tmp_path, greeting, model_dir):
    server = ServerProcess(tmp_path, ROUTEUR_TRANSCRIPTION_MODEL_DIR=model_dir, ROUTEUR_TRANSCRIPTION_LANGUAGE="fr").start()
    try:
        headers = server.token()
        with greeting.open("rb") as audio:
            response = httpx.post(f"{server.url}/transcription", headers=headers, files={"file": ("greeting.wav", audio, "audio/wav")}, timeout=120)
        unauthenticated = httpx.post(f"{server.url}/transcription", files={"file": ("greeting.wav", b"x")}, timeout=10)
    finally:
        server.stop()
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(words_found(body["text"], GREETING_WORDS)) >= 3, body["text"]
    assert (body["language"], body["model"]) == ("fr", "whisper-base")
    assert unauthenticated.status_code == 401 and unauthenticated.json()["status"] == "error"


def test_cli_transcribes_with_progress(tmp_path, greeting, model_dir):
    env = {**os.environ, "ROUTEUR_DATA_DIR": str(tmp_path), "ROUTEUR_TRANSCRIPTION_MODEL_DIR": model_dir, "ROUTEUR_TRANSCRIPTION_CPU_THREADS": "2"}
    done = subprocess.run([ROUTEUR, "transcribe", str(greeting), "--language", "fr"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(words_found(done.stdout, GREETING_WORDS)) >= 3, done.stdout
    assert "100%" in done.stderr and "s audio" in done.stderr  # the progress bar, on stderr only

    as_json = subprocess.run([ROUTEUR, "transcribe", str(greeting), "--json"], cwd=ROOT, env={**env, "ROUTEUR_TRANSCRIPTION_LANGUAGE": "fr"}, capture_output=True, text=True, timeout=300)
    assert as_json.returncode == 0, as_json.stderr[-2000:]
    body = json.loads(as_json.stdout)
    assert body["language"] == "fr" and body["model"] == "whisper-base" and body["metadata"]["real_time_factor"] > 0

    notes = tmp_path / "notes.txt"
    notes.write_text("not audio")
    refused = subprocess.run([ROUTEUR, "transcribe", str(notes)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "Unsupported audio file 'notes.txt'" in refused.stderr

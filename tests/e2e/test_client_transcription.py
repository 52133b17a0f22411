"""The Python client's transcription methods against a real server and real speech (espeak-ng):
typed transcripts and minutes, the accepted formats, and the server's refusals as typed errors."""

from __future__ import annotations

import pytest

from routeur.client import (
    AsyncRouteurClient,
    BadRequestError,
    MeetingMinutes,
    RouteurClient,
    Transcription,
    TranscriptionFormats,
    UnsupportedMediaTypeError,
)
from tests.support.api_support import ServerProcess
from tests.support.speech import GREETING, GREETING_WORDS, MEETING, speak, words_found


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio")
    return {"greeting": speak(GREETING, folder / "greeting.wav"), "meeting": speak(MEETING, folder / "meeting.wav")}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model_dir = str(tmp_path_factory.getbasetemp() / "whisper-base")
    process = ServerProcess(
        tmp_path_factory.mktemp("client-transcription"), ROUTEUR_TRANSCRIPTION_MODEL_DIR=model_dir, ROUTEUR_TRANSCRIPTION_CPU_THREADS="2"
    ).start()
    yield process
    process.stop()


def test_transcribe_a_path_and_read_the_formats(server, audio):
    with RouteurClient(server.url) as client:
        formats = client.transcription_formats()
        assert isinstance(formats, TranscriptionFormats) and "wav" in formats.supported_formats and formats.model == "whisper-base"
        assert formats.max_file_size_mb > 0 and formats.max_duration_seconds > 0
        result = client.transcribe(audio["greeting"], language="fr")
    assert isinstance(result, Transcription)
    assert len(words_found(result.text, GREETING_WORDS)) >= 3, result.text
    assert (result.language, result.model) == ("fr", "whisper-base")
    assert result.duration > 2 and result.usage.seconds == pytest.approx(result.duration, abs=1) and result.usage.type == "duration"


async def test_meeting_minutes_stored_and_errors_typed(server, audio):
    async with AsyncRouteurClient(server.url) as client:
        minutes = await client.transcribe_meeting(("réunion.wav", audio["meeting"].read_bytes()), store=True, language="fr")
        assert isinstance(minutes, MeetingMinutes) and minutes.report_model == "local-extractive" and minutes.model == "whisper-base"
        assert {"Marie", "Paul"} <= set(minutes.report.participants), minutes.report
        assert any(action.owner in ("Paul", "Marie") for action in minutes.report.actions), minutes.report
        assert "# Compte rendu de réunion" in minutes.text and "bonjour" in minutes.transcript.casefold()
        assert minutes.document is not None and minutes.document.project_id == minutes.project_id and minutes.document.chunks >= 1
        stored = await client.get_document(minutes.project_id, minutes.document.file_id)
        assert stored.file_id == minutes.document.file_id

        unstored = await client.transcribe_meeting(audio["greeting"], language="fr")
        assert unstored.document is None

        with pytest.raises(UnsupportedMediaTypeError) as not_audio:
            await client.transcribe(("notes.txt", b"not audio"))
        assert not_audio.value.status_code == 415 and "notes.txt" in not_audio.value.message
        with pytest.raises(BadRequestError) as negative:
            await client.transcribe_meeting(audio["greeting"], max_duration_seconds=-1)
        assert negative.value.status_code == 400 and "positive" in negative.value.message
        with pytest.raises(BadRequestError) as unknown:
            await client.transcribe_meeting(audio["greeting"], model="no-such-model")
        assert "no-such-model" in unknown.value.message

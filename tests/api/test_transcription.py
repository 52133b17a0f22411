"""Transcription through HTTP on real audio (espeak-ng speech, sox conversions): the offline
Whisper model's transcripts, the OpenAI-compatible provider against the local stub, every error
status, and meeting minutes (offline extraction, an LLM through the stub, stored in the project)."""

from __future__ import annotations

import json

import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from tests.support import openai_stub
from tests.support.openai_stub import StubServer
from tests.support.speech import GREETING, GREETING_WORDS, MEETING, convert, speak, words_found

CLIENTS = [
    {"id": "team-alpha", "secret": "alpha-secret-0123456789", "projects": ["alpha"]},
    {"id": "team-beta", "secret": "beta-secret-0123456789", "projects": ["beta"]},
]


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio")
    greeting = speak(GREETING, folder / "greeting.wav")
    return {
        "wav": greeting,
        "ogg": convert(greeting, folder / "greeting.ogg"),
        "flac": convert(greeting, folder / "greeting.flac"),
        "meeting": speak(MEETING, folder / "meeting.wav"),
    }


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """One assembled model for the whole session (the process loads it once)."""
    return tmp_path_factory.getbasetemp() / "whisper-base"


@pytest.fixture(scope="module")
def stub():
    with StubServer() as server:
        yield server


@pytest.fixture(scope="module")
async def client(settings_factory, model_dir, stub):
    settings = settings_factory(
        "transcription", clients=CLIENTS, rate_limit_per_minute=100_000, transcription_model_dir=model_dir, transcription_cpu_threads=2, model_max_retries=0
    )
    models_file = settings.data_dir / "models.json"
    unreachable = {"name": "unreachable", "base_url": "http://127.0.0.1:9/v1", "timeout_s": 2, "max_retries": 0}
    models_file.write_text(json.dumps([*stub.models_file_entries(), unreachable]))
    settings = settings.model_copy(update={"extra_models_file": models_file})
    async with AsyncTestClient(create_app(settings)) as test_client:
        yield test_client


async def _token(client, client_id: str) -> dict[str, str]:
    secret = next(c["secret"] for c in CLIENTS if c["id"] == client_id)
    response = await client.post("/auth/token", json={"client_id": client_id, "client_secret": secret})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="module")
async def alpha(client):
    return await _token(client, "team-alpha")


def _file(path, name: str | None = None) -> dict:
    return {"file": (name or path.name, path.read_bytes())}


@pytest.mark.parametrize("fmt", ["wav", "ogg", "flac"])
async def test_offline_model_transcribes_french_speech(client, alpha, audio, fmt):
    response = await client.post("/transcription?language=fr", headers=alpha, files=_file(audio[fmt]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(words_found(body["text"], GREETING_WORDS)) >= 3, body["text"]
    assert body["language"] == "fr"
    assert body["model"] == "whisper-base"
    assert 6.0 < body["duration"] < 8.0
    assert body["usage"] == {"seconds": body["duration"], "type": "duration"}
    metadata = body["metadata"]
    assert metadata["provider"] == "local" and metadata["latency_s"] > 0 and metadata["real_time_factor"] > 0
    assert metadata["energy_kWh"] is None and metadata["emissions_kgCO2eq"] is None


async def test_language_is_passed_through_and_defaults_to_the_setting(settings_factory, model_dir, audio):
    settings = settings_factory("transcription-en", transcription_model_dir=model_dir, transcription_language="en", rate_limit_per_minute=1000)
    async with AsyncTestClient(create_app(settings)) as client:
        headers = {"Authorization": f"Bearer {(await client.post('/auth/token')).json()['access_token']}"}
        unset = await client.post("/transcription", headers=headers, files=_file(audio["wav"]))
        forced = await client.post("/transcription?language=fr", headers=headers, files=_file(audio["wav"]))
        formats = await client.get("/transcription/supported-formats", headers=headers)
    assert unset.status_code == forced.status_code == 200
    assert unset.json()["language"] == "en"  # the deployment's default language was forced
    assert forced.json()["language"] == "fr"  # the caller's language wins
    assert formats.json()["default_language"] == "en"


async def test_supported_formats(client, alpha):
    response = await client.get("/transcription/supported-formats", headers=alpha)
    assert response.status_code == 200
    body = response.json()
    assert {"mp3", "mp4", "mpeg", "mpga", "m4a", "wav", "webm"} <= set(body["supported_formats"])
    assert body["max_file_size_mb"] == 25
    assert body["model"] == "whisper-base" and body["provider"] == "local"
    assert body["languages"] == "Auto-detection or specify ISO-639-1 code"


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/transcription/supported-formats"), ("post", "/transcription"), ("post", "/transcription/meeting")],
)
async def test_every_route_needs_a_token(client, method, path):
    response = await getattr(client, method)(path)
    assert response.status_code == 401
    assert response.json()["status"] == "error"


async def test_error_statuses_in_the_envelope(client, alpha, audio, settings_factory, model_dir):
    wav = audio["wav"].read_bytes()
    cases = [
        (await client.post("/transcription", headers=alpha, files={"file": ("notes.txt", wav)}), 415, "Unsupported audio file"),
        (await client.post("/transcription", headers=alpha, files={"file": ("voice", wav)}), 415, "no extension"),
        (await client.post("/transcription", headers=alpha, files={"file": ("broken.mp3", b"ID3 not really audio" * 50)}), 400, "could not be decoded"),
        (await client.post("/transcription", headers=alpha, files={"file": ("empty.wav", b"")}), 400, "decoded"),
        (await client.post("/transcription?language=xx", headers=alpha, files={"file": ("a.wav", wav)}), 400, "Unknown language 'xx'"),
        (await client.post("/transcription?language=french", headers=alpha, files={"file": ("a.wav", wav)}), 400, "language"),
        (await client.post("/transcription", headers=alpha, files={"other": ("a.wav", wav)}), 400, "multipart field 'file'"),
        (await client.post("/transcription", headers=alpha, files={"file": (None, b"\xff\xfe binary")}), 400, "not UTF-8 text"),
        (
            await client.post("/transcription/meeting", headers=alpha, files=_file(audio["wav"]), data={"project_id": "alpha", "max_duration_seconds": "3"}),
            400,
            "longer than the allowed 3 seconds",
        ),
        (await client.post("/transcription/meeting", headers=alpha, files=_file(audio["wav"]), data={"project_id": "beta"}), 403, "may not use project 'beta'"),
        (await client.post("/transcription/meeting", headers=alpha, files=_file(audio["wav"]), data={"max_duration_seconds": "-1"}), 400, "positive"),
        (await client.post("/transcription/meeting", headers=alpha, files=_file(audio["wav"]), data={"max_duration_seconds": "nan"}), 400, "positive"),
        (await client.post("/transcription/meeting", headers=alpha, files=_file(audio["wav"]), data={"model": "no-such-model"}), 400, "no-such-model"),
    ]
    for response, status, message in cases:
        assert response.status_code == status, (status, response.text)
        body = response.json()
        assert body["status"] == "error" and message in body["message"], body

    small = settings_factory("transcription-limits", transcription_model_dir=model_dir, transcription_max_bytes=50_000, transcription_max_duration_s=5, rate_limit_per_minute=1000)
    async with AsyncTestClient(create_app(small)) as limited:
        headers = {"Authorization": f"Bearer {(await limited.post('/auth/token')).json()['access_token']}"}
        too_big = await limited.post("/transcription", headers=headers, files={"file": ("a.wav", wav)})
        too_long = await limited.post("/transcription", headers=headers, files=_file(audio["ogg"]))
        meeting_capped = await limited.post("/transcription/meeting", headers=headers, files=_file(audio["ogg"]), data={"max_duration_seconds": "600"})
    assert len(wav) > 50_000 and too_big.status_code == 413 and "over the 50000-byte limit" in too_big.json()["message"]
    assert audio["ogg"].stat().st_size < 50_000  # small enough to reach the duration check
    assert too_long.status_code == 400 and "longer than the allowed 5 seconds" in too_long.json()["message"]
    # A meeting may lower the deployment's duration limit, never raise it.
    assert meeting_capped.status_code == 400 and "5 seconds" in meeting_capped.json()["message"]


async def test_meeting_minutes_offline_and_stored_in_the_project(client, alpha, audio):
    response = await client.post(
        "/transcription/meeting?language=fr", headers=alpha, files=_file(audio["meeting"]), data={"project_id": "alpha", "max_duration_seconds": "600", "store": "true"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    report = body["report"]
    assert body["report_model"] == "local-extractive" and body["model"] == "whisper-base" and body["language"] == "fr"
    assert "bonjour" in body["transcript"].casefold()
    assert any("décid" in d for d in report["decisions"]), report
    assert {"Marie", "Paul"} <= set(report["participants"]), report
    assert any(a["owner"] in ("Paul", "Marie") for a in report["actions"]), report
    assert report["summary"]
    for heading in ("# Compte rendu de réunion", "## Résumé", "## Décisions", "## Actions", "## Participants"):
        assert heading in body["text"]
    assert body["metadata"]["transcription"]["audio_duration_s"] == body["duration"]
    assert body["metadata"]["report"]["usage"]["total_tokens"] == 0

    document = body["document"]
    assert document["project_id"] == "alpha" and document["chunks"] >= 1
    listed = (await client.get("/projects/alpha/documents", headers=alpha)).json()["items"]
    assert document["file_id"] in {d["file_id"] for d in listed}
    found = await client.post("/projects/alpha/search", headers=alpha, json={"query": "décidé lancer le projet", "top_k": 3})
    assert found.status_code == 200, found.text
    assert found.json()["results"][0]["file_id"] == document["file_id"]
    beta = await _token(client, "team-beta")
    assert document["file_id"] not in {d["file_id"] for d in (await client.get("/projects/beta/documents", headers=beta)).json()["items"]}


async def test_meeting_minutes_by_an_llm(client, alpha, audio):
    response = await client.post(
        "/transcription/meeting?language=fr", headers=alpha, files=_file(audio["meeting"]), data={"project_id": "alpha", "model": "stub-ok"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["report_model"] == "stub-ok" and body["document"] is None
    first_sentence = body["transcript"].split(".")[0].strip()
    assert body["report"]["summary"] == "Résumé du stub : " + first_sentence  # the LLM was given the transcript
    assert body["report"]["actions"] == [{"task": "Relire le compte rendu", "owner": "Stub", "due": "lundi"}]
    assert body["metadata"]["report"]["usage"]["total_tokens"] == 25
    assert "- **Stub** : Relire le compte rendu" in body["text"]

    failed = await client.post("/transcription/meeting?language=fr", headers=alpha, files=_file(audio["wav"]), data={"model": "unreachable"})
    assert failed.status_code == 502
    assert "'unreachable' failed to write the minutes" in failed.json()["message"]


async def test_openai_compatible_provider(settings_factory, stub, audio):
    settings = settings_factory(
        "transcription-remote", transcription_provider="openai-compatible", transcription_base_url=stub.base_url, transcription_model="stub-whisper", rate_limit_per_minute=1000, model_max_retries=0
    )
    async with AsyncTestClient(create_app(settings)) as client:
        headers = {"Authorization": f"Bearer {(await client.post('/auth/token')).json()['access_token']}"}
        openai_stub.TRANSCRIPTION_REQUESTS.clear()
        ok = await client.post("/transcription?language=fr", headers=headers, files=_file(audio["ogg"]))
        sent = list(openai_stub.TRANSCRIPTION_REQUESTS)
        formats = (await client.get("/transcription/supported-formats", headers=headers)).json()
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["text"] == openai_stub.STUB_TRANSCRIPT
    assert body["language"] == "fr"  # verbose_json's "french" as an ISO code
    assert body["model"] == "stub-whisper" and body["metadata"]["provider"] == "openai-compatible"
    assert 6.0 < body["duration"] < 8.0  # measured here, not trusted from the provider
    assert sent == [
        {"model": "stub-whisper", "language": "fr", "response_format": "verbose_json", "filename": "greeting.ogg", "bytes": audio["ogg"].stat().st_size}
    ]
    assert formats["model"] == "stub-whisper" and formats["provider"] == "openai-compatible"

    failing = settings.model_copy(update={"transcription_model": "stub-error", "data_dir": settings.data_dir / "failing"})
    async with AsyncTestClient(create_app(failing)) as client:
        headers = {"Authorization": f"Bearer {(await client.post('/auth/token')).json()['access_token']}"}
        failed = await client.post("/transcription", headers=headers, files=_file(audio["wav"]))
    assert failed.status_code == 502
    assert failed.json()["status"] == "error" and "transcription provider failed" in failed.json()["message"]

"""An app runs every turn with the settings it was built with, not the process's: a model
declared only in the app's extra-models file is validated *and* served from that file."""

from __future__ import annotations

import json

import httpx
from litestar.testing import AsyncTestClient

from api.app import create_app
from routeur.settings import get_settings
from tests.support.api_support import ingest_demo

PORT_QUESTION = "Sur quel port le serveur écoute-t-il par défaut ?"


async def test_a_turn_runs_with_the_apps_own_settings(settings_factory, stub, monkeypatch):
    monkeypatch.delenv("ROUTEUR_EXTRA_MODELS_FILE", raising=False)
    get_settings.cache_clear()
    assert get_settings().extra_models_file is None  # the process declares no extra model
    settings = settings_factory("app-settings", rate_limit_per_minute=1000)
    models_file = settings.data_dir / "models.json"
    models_file.write_text(json.dumps(stub.models_file_entries()))
    settings = settings.model_copy(update={"extra_models_file": models_file})
    await ingest_demo(settings)
    before = httpx.get(f"http://127.0.0.1:{stub.port}/stats", timeout=5).json()["requests"]

    async with AsyncTestClient(create_app(settings)) as client:
        token = (await client.post("/auth/token")).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        listed = {m["name"] for m in (await client.get("/models", headers=headers)).json()["models"]}
        response = await client.post("/completion", headers=headers, json={"message": PORT_QUESTION, "model": "stub-ok", "agent": "V1"})

    assert "stub-ok" in listed
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "stub-ok" and body["response"]
    assert body["usage"]["total_tokens"] > 0  # the stub reported usage: the model really was called
    after = httpx.get(f"http://127.0.0.1:{stub.port}/stats", timeout=5).json()["requests"]
    assert after > before  # served by the stub the app's settings point at


async def test_the_offline_answerers_word_vectors_are_read_at_startup_not_at_the_first_answer(settings_factory):
    from nodes.models.factory import ModelRegistry

    settings = settings_factory("app-word-vectors")
    offline, with_llm = ModelRegistry(settings), ModelRegistry(settings.model_copy(update={"default_model": "gpt-4o-mini"}))
    async with AsyncTestClient(create_app(settings, models=offline)):
        assert "word_vectors" in vars(offline)  # loaded by the lifespan
        assert offline.word_vectors is not None
    async with AsyncTestClient(create_app(with_llm.settings, models=with_llm)):
        assert "word_vectors" not in vars(with_llm)  # an LLM answers: nothing to load


async def test_what_the_app_loaded_at_start_up_is_frozen_while_it_serves(settings_factory):
    import gc

    settings = settings_factory("app-frozen")
    async with AsyncTestClient(create_app(settings)) as client:
        assert gc.get_freeze_count() > 10_000  # the models and the app, out of the full collections
        assert (await client.get("/health")).status_code == 200
    assert gc.get_freeze_count() == 0  # a stopped app can be freed

"""The model catalog and factory: every provider wired from configuration, clear errors."""

from __future__ import annotations

import json

import pytest
from langchain_mistralai import ChatMistralAI
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from nodes.models.catalog import ModelCatalog, UnknownModelError
from nodes.models.extractive import ExtractiveChatModel
from nodes.models.factory import ModelRegistry, ModelUnavailableError
from retrievers.embeddings import LocalEmbeddings, build_embeddings, embeddings_slug
from routeur.settings import Settings


@pytest.fixture
def settings(tmp_path):
    return Settings(_env_file=None, data_dir=tmp_path)


def test_unknown_model_error_lists_the_valid_ones():
    with pytest.raises(UnknownModelError) as caught:
        ModelCatalog().get("gpt-17")
    assert "gpt-17" in str(caught.value) and "local-extractive" in str(caught.value) and "mistral-large-latest" in str(caught.value)


def test_extra_models_file_declares_openai_compatible_endpoints(tmp_path):
    path = tmp_path / "models.json"
    path.write_text(json.dumps([{"name": "gpt-oss-120b", "base_url": "http://llm.local/v1", "remote_name": "openai/gpt-oss-120b"}]))
    spec = ModelCatalog.from_file(path).get("gpt-oss-120b")
    assert spec.provider == "openai-compatible" and spec.base_url == "http://llm.local/v1"
    assert spec.input_eur_per_mtok is None  # no price given: reported as null, not zero


def test_factory_builds_each_provider(settings, monkeypatch, tmp_path):
    models = ModelRegistry(settings)
    assert isinstance(models.chat("local-extractive", 0.2), ExtractiveChatModel)

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    with pytest.raises(ModelUnavailableError, match="OPENAI_API_KEY"):
        models.chat("gpt-4o", 0.2)
    with pytest.raises(ModelUnavailableError, match="MISTRAL_API_KEY"):
        models.ensure_available("mistral-large-latest")

    keyed = settings.model_copy(update={"openai_api_key": SecretStr("sk-test"), "mistral_api_key": SecretStr("mk-test")})
    keyed_models = ModelRegistry(keyed)
    openai = keyed_models.chat("gpt-4o-mini", 0.3)
    assert isinstance(openai, ChatOpenAI) and openai.model_name == "gpt-4o-mini" and openai.temperature == 0.3
    assert openai.stream_usage is True
    assert openai.stream_chunk_timeout is None  # its wait_for loses cancellations on Python 3.11
    mistral = keyed_models.chat("mistral-small-latest", 0.1)
    assert isinstance(mistral, ChatMistralAI) and mistral.model == "mistral-small-latest"

    path = tmp_path / "models.json"
    path.write_text(json.dumps([{"name": "vllm-llama", "base_url": "http://127.0.0.1:9/v1", "remote_name": "meta/llama", "api_key_env": "VLLM_KEY"}]))
    monkeypatch.setenv("VLLM_KEY", "secret-key")
    compatible = ModelRegistry(settings.model_copy(update={"extra_models_file": path})).chat("vllm-llama", 0.0)
    assert isinstance(compatible, ChatOpenAI) and compatible.model_name == "meta/llama"
    assert compatible.openai_api_base == "http://127.0.0.1:9/v1"
    assert compatible.openai_api_key.get_secret_value() == "secret-key"


def test_embeddings_by_configuration(settings):
    assert isinstance(build_embeddings(settings), LocalEmbeddings)
    openai_settings = settings.model_copy(update={"embeddings_provider": "openai", "openai_api_key": SecretStr("sk-test")})
    openai = build_embeddings(openai_settings)
    assert openai.model == "text-embedding-3-small" and embeddings_slug(openai_settings) == "text_embedding_3_small"
    assert openai.check_embedding_ctx_length is False  # tiktoken would download its encodings
    mistral_settings = settings.model_copy(update={"embeddings_provider": "mistral", "mistral_api_key": SecretStr("mk")})
    assert build_embeddings(mistral_settings).model == "mistral-embed"

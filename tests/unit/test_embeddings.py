"""Embeddings: the offline local model and the provider wrappers built from settings."""

from __future__ import annotations

import math

import pytest

from retrievers.embeddings import (
    LocalEmbeddings,
    build_embeddings,
    embeddings_slug,
    vector_size,
)


async def test_local_model_gives_normalised_384_d_vectors_in_sync_and_async(embeddings):
    documents = embeddings.embed_documents(["Le port par défaut est 7860.", "The default port is 7860."])
    assert len(documents) == 2 and all(len(v) == embeddings.size == vector_size(embeddings) == 384 for v in documents)
    assert all(math.isclose(math.fsum(x * x for x in v), 1.0, rel_tol=1e-5) for v in documents)
    [async_document] = await embeddings.aembed_documents(["Le port par défaut est 7860."])
    assert async_document == pytest.approx(documents[0], abs=1e-5)
    query = embeddings.embed_query("The default port is 7860.")
    assert await embeddings.aembed_query("The default port is 7860.") == pytest.approx(query, abs=1e-5)
    assert sum(a * b for a, b in zip(query, documents[1], strict=True)) > 0.999  # float32 query, document maybe bfloat16
    assert embeddings.embed_documents([]) == []


def test_local_model_ranks_a_paraphrase_above_an_unrelated_sentence(embeddings):
    query = embeddings.embed_query("How long is an access token valid?")
    near, far = embeddings.embed_documents(["An access token expires after one hour.", "The cafeteria opens at noon."])
    assert sum(a * b for a, b in zip(query, near, strict=True)) > sum(a * b for a, b in zip(query, far, strict=True)) + 0.2


def test_settings_choose_the_provider_model_and_collection_slug(settings_factory):
    local = settings_factory("emb")
    assert isinstance(build_embeddings(local), LocalEmbeddings)
    assert embeddings_slug(local) == "all_minilm_l6_v2"

    openai = settings_factory("emb", embeddings_provider="openai", openai_api_key="sk-test")
    model = build_embeddings(openai)
    assert type(model).__name__ == "OpenAIEmbeddings" and model.model == "text-embedding-3-small"
    assert model.check_embedding_ctx_length is False  # tiktoken would download its encodings
    assert vector_size(model) == 1536
    assert embeddings_slug(openai) == "text_embedding_3_small"

    compatible = settings_factory(
        "emb",
        embeddings_provider="openai",
        embeddings_model="bge-m3",
        openai_api_key="k",
        openai_base_url="http://127.0.0.1:9/v1",
    )
    model = build_embeddings(compatible)
    assert model.model == "bge-m3" and model.openai_api_base == "http://127.0.0.1:9/v1"
    assert embeddings_slug(compatible) == "bge_m3"


def test_mistral_embeddings_never_download_a_tokenizer(settings_factory, monkeypatch):
    from tokenizers import Tokenizer

    def no_hub(*args, **kwargs):
        raise AssertionError("tried to download a tokenizer from the hub")

    monkeypatch.setattr(Tokenizer, "from_pretrained", no_hub)
    settings = settings_factory("emb", embeddings_provider="mistral", mistral_api_key="m-test")
    model = build_embeddings(settings)
    assert model.model == "mistral-embed" and vector_size(model) == 1024
    batches = list(model._get_batches(["a" * 10_000, "b" * 10_000]))  # one token per character: an upper bound
    assert [len(b) for b in batches] == [1, 1]


def test_bfloat16_products_keep_the_float32_vectors():
    text = (
        "# Tutoriel › Les listes\nLes listes sont des séquences modifiables : on peut y ajouter des éléments avec "
        "append(), les trier sur place avec sort() ou en extraire une tranche. Une liste vide par défaut dans la "
        "signature d'une fonction n'est créée qu'une fois, au moment de la définition."
    )
    exact = LocalEmbeddings(bfloat16=False).embed_documents([text, "Le port par défaut est 7860."])
    fast = LocalEmbeddings(bfloat16=True).embed_documents([text, "Le port par défaut est 7860."])
    for a, b in zip(exact, fast, strict=True):
        assert math.isclose(math.fsum(x * x for x in b), 1.0, rel_tol=1e-5)
        assert math.fsum(x * y for x, y in zip(a, b, strict=True)) > 0.999

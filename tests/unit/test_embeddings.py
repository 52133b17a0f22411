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


async def test_concurrent_queries_share_one_model_call_and_get_their_own_vectors(embeddings):
    import asyncio

    from retrievers.embeddings import QueryBatcher

    calls: list[list[str]] = []

    def encode(texts: list[str]) -> list[list[float]]:
        calls.append(list(texts))
        return embeddings._encode(texts, bfloat16=False)

    batcher = QueryBatcher(encode, window=0.005, max_batch=3)
    texts = ["Quel est le port par défaut ?", "How long is a token valid?", "Quel est le port par défaut ?", "Bonjour", "Où sont les logs ?"]
    vectors = await asyncio.gather(*(batcher.embed(t) for t in texts))
    assert [len(c) for c in calls] == [2, 2]  # 3 per batch at most, a repeated text encoded once
    for text, vector in zip(texts, vectors, strict=True):
        alone = embeddings._encode([text], bfloat16=False)[0]
        assert vector == pytest.approx(alone, abs=1e-5)  # padding in a batch changes nothing
    assert vectors[0] == vectors[2] and vectors[0] is not vectors[2]


async def test_a_failing_model_call_reaches_every_waiting_query_and_the_batcher_recovers():
    import asyncio

    from retrievers.embeddings import QueryBatcher

    broken = True

    def encode(texts: list[str]) -> list[list[float]]:
        if broken:
            raise RuntimeError("model unavailable")
        return [[float(len(t))] for t in texts]

    batcher = QueryBatcher(encode, window=0.0, max_batch=8)
    results = await asyncio.gather(batcher.embed("a"), batcher.embed("bb"), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) and str(r) == "model unavailable" for r in results)
    broken = False
    assert await batcher.embed("ccc") == [3.0]


async def test_a_repeated_query_is_answered_from_the_cache_without_the_model(embeddings, monkeypatch):
    model = LocalEmbeddings(query_cache_size=2)
    first = await model.aembed_query("Quel est le port par défaut ?")
    first.append(99.0)  # a caller mutating its vector does not reach the cache

    def no_model(*args, **kwargs):
        raise AssertionError("the model was called for a cached query")

    monkeypatch.setattr(model, "_encode", no_model)
    again = await model.aembed_query("Quel est le port par défaut ?")
    assert len(again) == 384 and again == first[:-1]
    assert model.embed_query("Quel est le port par défaut ?") == again
    monkeypatch.undo()
    model.embed_query("deux")
    model.embed_query("trois")  # the cache holds two texts: the oldest goes
    assert model.query_cache.get("Quel est le port par défaut ?") is None
    assert model.query_cache.get("trois") is not None

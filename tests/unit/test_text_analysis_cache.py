"""The per-process analysis cache of passages: computed once, identical to computing it afresh,
and never shared in a form a caller could change."""

from __future__ import annotations

import pytest

from retrievers.sparse import word_stems
from retrievers.text import ANALYSIS_CACHE_SIZE, _sentences, sentences, stem_set

pytestmark = pytest.mark.unit

PASSAGE = (
    "# Démarrage\n\nPar défaut, le serveur écoute sur le port 7860, à l'adresse 127.0.0.1. "
    "Changez-le avec `--port`.\n\n- Les réseaux sécurisés exigent un jeton.\n- La configuration "
    "se lit une fois au démarrage."
)


def test_cached_stems_equal_a_fresh_analysis() -> None:
    stem_set.cache_clear()
    first = stem_set(PASSAGE)
    again = stem_set(PASSAGE)
    assert first == frozenset().union(*word_stems(PASSAGE))
    assert again is first
    assert stem_set.cache_info().hits == 1
    assert {"serveur", "port", "7860"} <= first
    assert stem_set("") == frozenset()


def test_sentences_are_a_fresh_list_on_every_call() -> None:
    _sentences.cache_clear()
    first = sentences(PASSAGE)
    expected = list(first)
    first.clear()
    first_again = sentences(PASSAGE)
    assert first_again == expected
    assert _sentences.cache_info().hits == 1
    assert ("Démarrage", "Par défaut, le serveur écoute sur le port 7860, à l'adresse 127.0.0.1.") in expected


def test_the_cache_is_bounded() -> None:
    stem_set.cache_clear()
    for number in range(ANALYSIS_CACHE_SIZE + 10):
        stem_set(f"passage numéro {number} du corpus")
    assert stem_set.cache_info().currsize == ANALYSIS_CACHE_SIZE

"""The per-process analysis caches of passages and of words: computed once, identical to computing
it afresh, and never shared in a form a caller could change."""

from __future__ import annotations

import unicodedata

import pytest
from py_rust_stemmers import SnowballStemmer

from retrievers import sparse
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


# Words: folded and stemmed once per process, whatever passage they come in.

WORDS_TEXT = (
    "Réseau SÉCURITÉ securite désactivé désactiver œuvre straße ﬁchier İstanbul Ωmega 東京 café\u0301 "
    "ensure_ascii gc.disable les serveurs écoutent sur le port 7860"
)


def _fold_uncached(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _stems_uncached(text: str) -> list[list[str]]:
    """Each word's stems as computed before the word cache: whole-text batches, no cache."""
    stop = sparse._stopwords()
    words = [w for w in sparse._WORD.findall(text.lower()) if len(w) > 1 and _fold_uncached(w) not in stop]
    folded = [_fold_uncached(w) for w in words]
    french, english = SnowballStemmer("french"), SnowballStemmer("english")
    out = []
    for written, bare, en in zip(french.stem_words(words), french.stem_words(folded), english.stem_words(folded), strict=True):
        found = [_fold_uncached(written)]
        found += [s for s in dict.fromkeys((bare, en)) if s not in found]
        out.append(found)
    return out


def test_folding_is_unchanged_by_the_ascii_shortcut_and_the_word_cache() -> None:
    for text in [WORDS_TEXT, *WORDS_TEXT.split(), "PLAIN ascii Text_42", ""]:
        assert sparse.fold(text) == _fold_uncached(text)
        assert sparse._fold_word(text) == _fold_uncached(text)


def test_cached_word_stems_equal_a_fresh_stemming() -> None:
    sparse._stems_of.cache_clear()
    fresh = _stems_uncached(WORDS_TEXT)
    for _ in range(2):  # computed, then from the cache
        assert [list(found) for found in (sparse._stems_of(w)[0] for w in sparse._words(WORDS_TEXT))] == fresh
        assert sparse.word_stems(WORDS_TEXT) == [frozenset(found) for found in fresh]
        assert sparse.stems(WORDS_TEXT) == [s for found in fresh for s in found] + sparse.identifiers(WORDS_TEXT)
    assert sparse._stems_of.cache_info().hits >= len(fresh)
    assert {"desactiv", "secur"} <= set(sparse.stems(WORDS_TEXT))


def test_a_replaced_passage_is_analysed_afresh() -> None:
    """Every cache is keyed by the text itself: a document replaced by another content brings new
    texts, never the previous version's analysis."""
    before = "Le serveur écoute sur le port 7860."
    after = "Le serveur écoute sur le port 8080."
    assert "7860" in stem_set(before) and "8080" not in stem_set(before)
    assert "8080" in stem_set(after) and "7860" not in stem_set(after)
    assert stem_set(after) == frozenset().union(*word_stems(after))


def test_the_word_caches_are_bounded() -> None:
    sparse._stems_of.cache_clear()
    for number in range(sparse.WORD_CACHE_SIZE + 10):
        sparse._stems_of(f"mot{number}")
    assert sparse._stems_of.cache_info().currsize == sparse.WORD_CACHE_SIZE
    assert sparse._fold_word.cache_info().maxsize == sparse.WORD_CACHE_SIZE

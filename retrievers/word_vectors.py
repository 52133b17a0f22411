"""French word vectors: a cheap semantic signal for the offline answerer.

A question asked in a user's own words shares few stems with the sentence that answers it
("rendre une variable visible" against "l'instruction global"), so a purely lexical choice misses
it. Static word vectors (spaCy's ``fr_core_news_md``: 300 dimensions, 20 000 distinct vectors
for 500 000 French words) tell how close two words are in meaning at the cost of a table lookup
and a small matrix product, where a sentence encoder costs about a second per answer on a CPU.

Only the vocabulary and its vectors are loaded (no tagger, parser or lemmatizer): about 3 s
once per process. Deterministic: no randomness, no model hub.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from retrievers.sparse import _words

logger = logging.getLogger(__name__)

VECTOR_CACHE_SIZE = 65_536
"""Distinct words whose unit vector is kept (300 floats each: about 80 MB at most, a corpus's
vocabulary is usually a few thousand words)."""


class WordVectors:
    """Unit word vectors looked up by lowercased word; words without a vector are skipped."""

    def __init__(self, keys: dict[str, int] | Any, rows: dict[int, int] | Any, table: np.ndarray):
        self._keys = keys
        self._rows = rows
        self._table = table
        self._unit = lru_cache(maxsize=VECTOR_CACHE_SIZE)(self._lookup)

    @classmethod
    def from_spacy(cls, package: str) -> WordVectors:
        """The vectors of the installed spaCy pipeline ``package``, without its components."""
        import spacy

        nlp = spacy.load(package, exclude=["tok2vec", "morphologizer", "tagger", "parser", "attribute_ruler", "lemmatizer", "ner", "senter"])
        vectors = nlp.vocab.vectors
        if not vectors.shape[0]:
            raise ValueError(f"spaCy package {package!r} has no word vectors")
        return cls(nlp.vocab.strings, vectors.key2row, np.asarray(vectors.data, dtype=np.float32))

    def _lookup(self, word: str) -> np.ndarray | None:
        if word not in self._keys:
            return None
        row = self._rows.get(self._keys[word])
        if row is None:
            return None
        vector = self._table[row]
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else None

    def _matrix(self, text: str) -> np.ndarray | None:
        found = [v for v in (self._unit(w) for w in dict.fromkeys(_words(text))) if v is not None]
        return np.vstack(found) if found else None

    def coverage(self, question: str, texts: Sequence[str]) -> list[float]:
        """For each text, the mean over the question's content words (stopwords out) of their
        best cosine with a word of the text, negatives counted as 0: 1.0 when every word is
        there, high when the text says it with close words."""
        asked = self._matrix(question)
        if asked is None:
            return [0.0] * len(texts)
        out: list[float] = []
        for text in texts:
            words = self._matrix(text)
            out.append(0.0 if words is None else float(np.clip((asked @ words.T).max(axis=1), 0.0, 1.0).mean()))
        return out


_loaded: dict[str, WordVectors] = {}
_loading = threading.Lock()


def load_word_vectors(package: str | None) -> WordVectors | None:
    """``package``'s vectors, or ``None`` (lexical choice only) when none is configured or the
    package is not installed: the offline answerer then works as before, deterministically.

    An installed package's vectors are read once per process (like the local embedding model's
    weights), whatever the number of registries asking: each copy is a few hundred MB."""
    if not package:
        return None
    if importlib.util.find_spec("spacy") is None or importlib.util.find_spec(package) is None:
        logger.warning("Word vectors %r are not installed: offline answers choose sentences by shared words only", package)
        return None
    with _loading:
        if package not in _loaded:
            _loaded[package] = WordVectors.from_spacy(package)
        return _loaded[package]

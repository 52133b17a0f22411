"""French word vectors: a cheap semantic signal for the offline answerer.

A question asked in a user's own words shares few stems with the sentence that answers it
("supprimer un service sans interrompre le serveur" against "retirer un service à chaud : le
démon continue de répondre"), so a purely lexical choice misses it. Static word vectors (spaCy's ``fr_core_news_md``: 300 dimensions, 20 000 distinct vectors
for 500 000 French words) tell how close two words are in meaning at the cost of a table lookup
and a small matrix product, where a sentence encoder costs about a second per answer on a CPU.

Only the vocabulary and its vectors are loaded (no tagger, parser or lemmatizer), once per
process: 4–8 s, then about 100 MB kept for the words and the 24 MB table, on top of spaCy's own
import. Deterministic: no randomness, no model hub.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import threading
from collections.abc import Sequence

import numpy as np

from retrievers.sparse import is_stopword

logger = logging.getLogger(__name__)

_TOKEN = re.compile(r"[^\W_]+")
"""The words the lexical analysis reads (``retrievers.sparse``): letters and digits, lowercased.
Only the vocabulary's entries of that shape are kept: 186,000 of its 500,000 strings, about
100 MB less than spaCy's whole vocabulary."""


class WordVectors:
    """Unit word vectors looked up by lowercased word; words without a vector are skipped."""

    def __init__(self, rows: dict[str, int], table: np.ndarray):
        norms = np.linalg.norm(table, axis=1, keepdims=True)
        self._rows = rows
        self._table = (table / np.where(norms > 0, norms, 1.0)).astype(np.float32)

    @classmethod
    def from_spacy(cls, package: str) -> WordVectors:
        """The vectors of the installed spaCy pipeline ``package``, without its components.

        The package maps its 500,000 words onto 20,000 vectors (each rare word onto its nearest
        kept one), so distinct words may share a vector: a cosine of 1.0 means close, not equal."""
        import spacy

        nlp = spacy.load(package, exclude=["tok2vec", "morphologizer", "tagger", "parser", "attribute_ruler", "lemmatizer", "ner", "senter"])
        vectors, strings = nlp.vocab.vectors, nlp.vocab.strings
        if not vectors.shape[0]:
            raise ValueError(f"spaCy package {package!r} has no word vectors")
        rows: dict[str, int] = {}
        for word in strings:
            if word == word.lower() and _TOKEN.fullmatch(word) and (row := vectors.key2row.get(strings[word])) is not None:
                rows[word] = row
        return cls(rows, np.asarray(vectors.data, dtype=np.float32))

    def _matrix(self, text: str) -> np.ndarray | None:
        """The vectors of ``text``'s distinct content words (stopwords and one-letter words out)."""
        words = dict.fromkeys(w for w in _TOKEN.findall(text.lower()) if len(w) > 1 and w in self._rows and not is_stopword(w))
        found = [self._rows[w] for w in words]
        return self._table[found] if found else None

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

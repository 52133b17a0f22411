"""BM25-style sparse vectors with French and English stemming.

The local dense model is English-trained, so French documents are found reliably by their exact
(stemmed) words. Each word is stemmed as written (lowercased, accents kept: the French stemmer
needs them to join "désactivé" and "désactiver"), then the stem is accent-folded; the folded word's
own stems are added when they differ, so a hastily typed "securite" still meets "sécurité". Each
word is also indexed under its English Snowball stem when that differs: a query in one language
still matches a document in the other. Term ids are ``zlib.crc32`` of the stem, stable across processes and machines (``hash()``
is salted per process and would silently break a persisted index).

Only the term-frequency half of BM25 is computed here; Qdrant computes the IDF half over the
whole collection (``Modifier.IDF``), so weights stay right as documents come and go.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

from py_rust_stemmers import SnowballStemmer

K1 = 1.2
B = 0.75
# BM25 normalises a document's length by the corpus average, which Qdrant does not provide.
# Chunks are cut to about the same size, so a constant stands in for it: an 800–900 character
# chunk (settings.chunk_size = 900) measured 75–85 stems on the demo corpus, plus the title that
# is indexed with every chunk.
AVERAGE_DOC_TERMS = 90.0

_WORD = re.compile(r"[^\W_]+")
# Code names are searched whole as well as by their parts: "ensure_ascii", "gc.disable".
_IDENTIFIER = re.compile(r"[^\W_]+(?:[_.][^\W_]+)+")
_HEADING_LINE = re.compile(r"^#{1,6}\s+(.*)$", re.MULTILINE)
HEADING_BOOST = 2
"""A heading's terms count this many extra times: a section titled by the query's words is
about them, wherever else they appear."""


@dataclass(frozen=True)
class SparseVector:
    indices: list[int]
    values: list[float]


WORD_CACHE_SIZE = 65_536
"""Distinct words (and stems) whose folded form is kept per process. Folding was most of the cost
of analysing a passage met for the first time (one Unicode decomposition and a character-by-
character filter per word), while a corpus's vocabulary is small and comes back in every passage:
a few MB at most."""


def fold(text: str) -> str:
    """Lowercase and strip accents, so "Réseau" and "reseau" are one term. ASCII text has nothing
    to decompose or strip: lowercasing is all of it."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_fold_word = lru_cache(maxsize=WORD_CACHE_SIZE)(fold)
"""``fold`` of one word or stem, cached (a pure function of its argument)."""


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    folder = files("retrievers") / "stopwords"
    words: set[str] = set()
    for name in ("fr.txt", "en.txt"):
        words.update(fold(w) for w in (folder / name).read_text(encoding="utf-8").split())
    return frozenset(words)


@lru_cache(maxsize=1)
def _stemmers() -> tuple[SnowballStemmer, SnowballStemmer]:
    return SnowballStemmer("french"), SnowballStemmer("english")


def is_stopword(word: str) -> bool:
    return fold(word) in _stopwords()


def _words(text: str) -> list[str]:
    """The lowercased words, without stopwords or one-character tokens."""
    stop = _stopwords()
    return [w for w in _WORD.findall(text.lower()) if len(w) > 1 and _fold_word(w) not in stop]


def tokens(text: str) -> list[str]:
    """Folded words, in order, without stopwords or one-character tokens."""
    return [_fold_word(w) for w in _words(text)]


@lru_cache(maxsize=WORD_CACHE_SIZE)
def _stems_of(word: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """A lowercased word's distinct stems, in a fixed order — French stem of the word as written
    (then folded), French stem of the folded word, English stem of the folded word — and as a
    set. Cached per word: passages met for the first time are mostly words met before."""
    french, english = _stemmers()
    bare = _fold_word(word)
    found = [_fold_word(french.stem_word(word))]
    for stem in (french.stem_word(bare), english.stem_word(bare)):
        if stem not in found:
            found.append(stem)
    return tuple(found), frozenset(found)


def word_stems(text: str) -> list[frozenset[str]]:
    """Each token's stems (French and English), in order: one entry per word of ``text``."""
    return [_stems_of(word)[1] for word in _words(text)]


def identifiers(text: str) -> list[str]:
    """Folded code names made of several parts (``ensure_ascii``, ``os.path``), kept whole."""
    return _IDENTIFIER.findall(fold(text))


def stems(text: str) -> list[str]:
    """Each token's stems (see ``_stems_of``), then the text's multi-part code names, whole."""
    out = [stem for word in _words(text) for stem in _stems_of(word)[0]]
    out.extend(identifiers(text))
    return out


def terms(text: str) -> set[str]:
    """The distinct stems of ``text``: what lexical overlap between two texts compares."""
    return set(stems(text))


def term_id(stem: str) -> int:
    return zlib.crc32(stem.encode("utf-8"))


class SparseEncoder:
    """Documents get BM25's saturated term frequency; queries get 1.0 per distinct term.

    With Qdrant's IDF modifier the dot product of the two is the BM25 score of the document.
    """

    def __init__(self, *, k1: float = K1, b: float = B, average_doc_terms: float = AVERAGE_DOC_TERMS):
        self.k1 = k1
        self.b = b
        self.average_doc_terms = average_doc_terms

    def encode_document(self, text: str) -> SparseVector:
        """Markdown heading lines (``# …``, as ``Chunk.indexed_text`` writes the title and section
        path) weigh ``HEADING_BOOST`` times more."""
        counts = Counter(term_id(s) for s in stems(text))
        for heading in _HEADING_LINE.findall(text):
            for stem in stems(heading):
                counts[term_id(stem)] += HEADING_BOOST
        length = sum(counts.values())
        norm = self.k1 * (1 - self.b + self.b * length / self.average_doc_terms)
        indices = sorted(counts)
        return SparseVector(indices, [counts[i] * (self.k1 + 1) / (counts[i] + norm) for i in indices])

    def encode_query(self, text: str) -> SparseVector:
        indices = sorted({term_id(s) for s in stems(text)})
        return SparseVector(indices, [1.0] * len(indices))

    def terms(self, text: str) -> set[str]:
        return terms(text)

"""BM25-style sparse vectors with French and English stemming.

The embedded dense model is English-trained; French documents are found reliably by exact
(stemmed) terms. Each word is indexed under both its French and English Snowball stems, so a
query matches whichever language the document is in. Term ids are ``zlib.crc32`` of the stem:
stable across processes and machines (``hash()`` is salted per process). Document weights are
BM25's saturated term frequency; the IDF part is computed by Qdrant (``Modifier.IDF``).
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
# Qdrant applies IDF only; the length normalisation needs an average document length. Chunks are
# cut to roughly the same size (settings.chunk_size ≈ 900 characters ≈ 90 content terms with both
# stems), so a constant stands in for the corpus average.
AVERAGE_DOC_TERMS = 90.0

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class SparseVector:
    indices: list[int]
    values: list[float]


def _fold(text: str) -> str:
    """Lowercase and strip accents, so "Réseau" and "reseau" are one term."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    folder = files("retrievers") / "stopwords"
    words: set[str] = set()
    for name in ("fr.txt", "en.txt"):
        words.update(_fold(w) for w in (folder / name).read_text(encoding="utf-8").split())
    return frozenset(words)


@lru_cache(maxsize=1)
def _stemmers() -> tuple[SnowballStemmer, SnowballStemmer]:
    return SnowballStemmer("french"), SnowballStemmer("english")


def is_stopword(word: str) -> bool:
    return _fold(word) in _stopwords()


def tokens(text: str) -> list[str]:
    """Folded words without stopwords or one-letter tokens."""
    stop = _stopwords()
    return [w for w in _WORD.findall(_fold(text)) if len(w) > 1 and w not in stop]


def stems(text: str) -> list[str]:
    """Every token's French and English stems (one entry when they agree)."""
    french, english = _stemmers()
    words = tokens(text)
    out: list[str] = []
    for fr, en in zip(french.stem_words(words), english.stem_words(words), strict=True):
        out.append(fr)
        if en != fr:
            out.append(en)
    return out


def terms(text: str) -> set[str]:
    """The set of stems of ``text``: what lexical relevance compares."""
    return set(stems(text))


def term_id(stem: str) -> int:
    return zlib.crc32(stem.encode("utf-8"))


def encode_document(text: str) -> SparseVector:
    counts = Counter(term_id(s) for s in stems(text))
    length = sum(counts.values())
    norm = K1 * (1 - B + B * length / AVERAGE_DOC_TERMS)
    indices = sorted(counts)
    return SparseVector(indices, [counts[i] * (K1 + 1) / (counts[i] + norm) for i in indices])


def encode_query(text: str) -> SparseVector:
    indices = sorted({term_id(s) for s in stems(text)})
    return SparseVector(indices, [1.0] * len(indices))

"""French word vectors: a cheap semantic signal for the offline answerer.

A question asked in a user's own words shares few stems with the sentence that answers it
("supprimer un service sans interrompre le serveur" against "retirer un service à chaud : le
démon continue de répondre"), so a purely lexical choice misses it. Static word vectors (spaCy's ``fr_core_news_md``: 300 dimensions, 20 000 distinct vectors
for 500 000 French words) tell how close two words are in meaning at the cost of a table lookup
and a small matrix product, where a sentence encoder costs about a second per answer on a CPU.

The package is read once, in a child process (spaCy's import brings torch along), and what the
answerer needs — the words the lexical analysis can ask for, their rows, the 24 MB table — is
exported into the data dir (``<data_dir>/models/word-vectors``, written under a temporary name,
synced, then renamed). Every later start reads that file with numpy alone: a fraction of a
second and about 50 MB, no spaCy, no torch. Deterministic: no randomness, no model hub.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from retrievers.sparse import is_stopword

logger = logging.getLogger(__name__)

_TOKEN = re.compile(r"[^\W_]+")
"""The words the lexical analysis reads (``retrievers.sparse``): letters and digits, lowercased.
Only the vocabulary's entries of that shape are kept: 186,000 of its 500,000 strings, about
100 MB less than spaCy's whole vocabulary."""


class WordVectors:
    """Unit word vectors looked up by lowercased word; words without a vector are skipped."""

    def __init__(self, rows: dict[str, int], unit_table: np.ndarray):
        self._rows = rows
        self._table = unit_table

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
        table = np.asarray(vectors.data, dtype=np.float32)
        norms = np.linalg.norm(table, axis=1, keepdims=True)
        return cls(rows, (table / np.where(norms > 0, norms, 1.0)).astype(np.float32))

    @classmethod
    def from_file(cls, path: Path) -> WordVectors:
        with np.load(path, allow_pickle=False) as exported:
            words = exported["words"].tobytes().decode().split("\n")
            return cls(dict(zip(words, exported["rows"].tolist(), strict=True)), exported["table"])

    def save(self, path: Path) -> None:
        """Written whole or not at all: a temporary file, synced, then renamed."""
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial.npz")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                words = np.frombuffer("\n".join(self._rows).encode(), dtype=np.uint8)  # words hold no line break
                np.savez(handle, words=words, rows=np.array(list(self._rows.values()), dtype=np.int32), table=self._table)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, path)
        finally:
            Path(partial).unlink(missing_ok=True)

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


def load_word_vectors(package: str | None, export_dir: Path) -> WordVectors | None:
    """``package``'s vectors, or ``None`` (lexical choice only) when none is configured or the
    package is not installed: the offline answerer then works as before, deterministically.

    Read from their export in ``export_dir``, made first (in a child process) when missing; once
    per process, whatever the number of registries asking, like the local embedding model."""
    if not package:
        return None
    if importlib.util.find_spec(package) is None:
        logger.warning("Word vectors %r are not installed: offline answers choose sentences by shared words only", package)
        return None
    target = export_dir / f"{package}-{importlib.metadata.version(package)}.npz"
    with _loading:
        if str(target) not in _loaded:
            try:
                if not target.is_file():
                    _export(package, target)
                _loaded[str(target)] = WordVectors.from_file(target)
            except (OSError, ValueError, KeyError, subprocess.SubprocessError) as exc:
                logger.warning("Word vectors %r unavailable (%s): offline answers choose sentences by shared words only", package, exc)
                return None
        return _loaded[str(target)]


def _export(package: str, target: Path) -> None:
    done = subprocess.run([sys.executable, "-m", __name__, package, str(target)], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise OSError(f"export failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    logger.info("Exported the word vectors of %s to %s", package, target)


if __name__ == "__main__":
    WordVectors.from_spacy(sys.argv[1]).save(Path(sys.argv[2]))

"""What analysing a passage costs the offline path (the reranker, the abstention check and the
extractive model read every candidate's stems and sentences): CPU ms per passage the first time a
process meets it, and once its analysis is cached. The corpus is cut as ingestion cuts it.

    python -m benchmarks.bench_text_analysis [CORPUS] [--passages 1500] [--repeat 5]

Default corpus: ``../shared/corpora/python-docs-fr`` when present, else ``demo/corpus``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import print_table
from retrievers import sparse, text
from retrievers.chunking import chunk_document
from retrievers.loaders import load_document
from routeur.settings import Settings
from tests.support.api_support import ROOT

SUFFIXES = {".md", ".txt", ".html", ".rst"}


def passages(corpus: Path, limit: int) -> list[tuple[str, str]]:
    """``(context, text)`` of the corpus's chunks, as ingestion cuts them, at most ``limit``."""
    settings = Settings(_env_file=None)
    out: list[tuple[str, str]] = []
    for path in sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES):
        document = load_document(path.name, path.read_bytes())
        for chunk in chunk_document(document.text, chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap):
            out.append((chunk.context(document.title), chunk.text))
            if len(out) >= limit:
                return out
    return out


def analyse(items: list[tuple[str, str]]) -> None:
    """What a turn reads of a candidate: its stems, its context's, each sentence's."""
    for context, passage in items:
        text.stem_set(passage)
        text.stem_set(context)
        for _, sentence in text.sentences(passage):
            text.stem_set(sentence)


def clear() -> None:
    """Every analysis cache of the process emptied (those of this version: the script also
    measures earlier ones)."""
    for module, name in ((text, "stem_set"), (text, "_sentences"), (sparse, "_stems_of"), (sparse, "_fold_word")):
        if (cached := getattr(module, name, None)) is not None:
            cached.cache_clear()


def timed(prepare: Callable[[], None], items: list[tuple[str, str]], repeat: int) -> float:
    """Median CPU ms per passage of ``repeat`` analyses of ``items``, each after ``prepare``."""
    runs = []
    for _ in range(repeat):
        prepare()
        started = time.process_time()
        analyse(items)
        runs.append((time.process_time() - started) * 1000 / len(items))
    return statistics.median(runs)


def main() -> None:
    default = ROOT.parent / "shared" / "corpora" / "python-docs-fr"
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", nargs="?", type=Path, default=default if default.exists() else ROOT / "demo" / "corpus")
    parser.add_argument("--passages", type=int, default=1500)
    parser.add_argument("--repeat", type=int, default=5, help="measures per case; the median is printed")
    args = parser.parse_args()
    items = passages(args.corpus, args.passages)
    recent = items[: text.ANALYSIS_CACHE_SIZE // 16]  # few enough for their sentences to stay cached

    def words_known() -> None:
        """The vocabulary met in other passages, as in a process serving for a while."""
        clear()
        analyse(items)
        text.stem_set.cache_clear()
        text._sentences.cache_clear()

    rows = [
        ["first meeting, new process", f"{timed(clear, items, args.repeat):.3f}"],
        ["first meeting, words known", f"{timed(words_known, items, args.repeat):.3f}"],
        ["passage met again", f"{timed(lambda: analyse(recent), recent, args.repeat):.3f}"],
    ]
    print_table(
        f"Passage analysis, CPU ms per passage ({len(items)} passages of {args.corpus.name}, median of {args.repeat})", ["case", "ms"], rows
    )


if __name__ == "__main__":
    main()

"""Ingestion throughput against the embedding model's own, on real text.

End to end (``routeur ingest``'s path: read, parse, chunk, embed, stage and publish in the
embedded store) against the model alone embedding the same chunks in one call, on
``../shared/corpora/python-docs-fr`` (or its first ``--files`` files). Each is timed in wall
seconds and in this process's CPU seconds: on a shared machine the CPU figure is the fair one
(other processes' load slows the wall clock of both, not the work done).

``--diagnose`` also explains the model's rate on these chunks: tokens per chunk against the
model's window, and chunks per CPU second by batch size, next to short sentences.

    python -m benchmarks.bench_ingestion [--files 80] [--diagnose]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.bench_retrieval import CORPUS, corpus_subset, load_corpus
from benchmarks.common import print_table


def timed(fn):  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def model_alone(texts: list[str]) -> tuple[float, float]:
    from retrievers.embeddings import LocalEmbeddings

    _, wall, cpu = timed(lambda: LocalEmbeddings().embed_documents(texts))
    return wall, cpu


def end_to_end(root: Path) -> tuple[int, int, float, float]:
    from retrievers.edge import EdgeDocumentStore
    from retrievers.embeddings import LocalEmbeddings
    from retrievers.ingestion import ingest_paths
    from routeur.settings import Settings

    settings = Settings(_env_file=None, data_dir=Path(tempfile.mkdtemp(prefix="bench-ingest-")))
    store = EdgeDocumentStore(settings, LocalEmbeddings())
    report, wall, cpu = timed(lambda: asyncio.run(ingest_paths(store, [root], project_id="docs", progress=False, settings=settings)))
    store.close()
    return report.files, report.chunks, wall, cpu


def diagnose(texts: list[str], sample_size: int) -> None:
    from retrievers.embeddings import LocalEmbeddings, _local_model

    model = _local_model()
    lengths = np.array([len(ids) for ids in model.tokenizer(texts, add_special_tokens=True)["input_ids"]])
    window = model.max_seq_length
    print(
        f"\n{len(texts):,} chunks, {np.mean([len(t) for t in texts]):.0f} characters on average: {lengths.mean():.0f} tokens "
        f"(median {np.median(lengths):.0f}); {np.mean(lengths > window):.0%} exceed the model's {window}-token window"
    )
    sample = texts[: min(sample_size, len(texts))]
    snippets = [" ".join(t.split()[:12]) for t in sample]
    rows = []
    cases = [("chunks", 8, False), ("chunks", 32, False), ("chunks", 64, False), ("chunks", 128, False), ("12-word sentences", 64, False), ("chunks", 64, True)]
    for label, batch, bfloat16 in cases:
        inputs = snippets if label != "chunks" else sample
        embed = LocalEmbeddings(batch_size=batch, bfloat16=bfloat16).embed_documents
        _, wall, cpu = timed(lambda inputs=inputs, embed=embed: embed(inputs))
        rows.append([label, str(batch), "bfloat16" if bfloat16 else "float32", f"{len(inputs) / wall:.1f}", f"{len(inputs) / cpu:.1f}"])
    print_table(f"The model alone on {len(sample)} inputs", ["inputs", "batch", "products", "per wall s", "per CPU s"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--files", type=int, default=None, help="Only the first N files of the corpus")
    parser.add_argument("--diagnose", action="store_true")
    parser.add_argument("--sample", type=int, default=256, help="Chunks the diagnosis embeds per batch size")
    args = parser.parse_args()
    root = corpus_subset(Path(args.corpus), args.files)
    _, texts = load_corpus(root)
    from retrievers.embeddings import LocalEmbeddings

    LocalEmbeddings().embed_query("warm-up")  # model loading is not ingestion
    if args.diagnose:
        diagnose(texts, args.sample)
    # The model alone runs before and after end to end and its faster run counts: whichever goes
    # first also pays the one-off kernel set-up of each new batch shape.
    before = model_alone(texts)
    files, chunks, wall, cpu = end_to_end(root)
    after = model_alone(texts)
    model_wall, model_cpu = min(before[0], after[0]), min(before[1], after[1])
    print(f"model alone, wall / CPU s: {before[0]:.1f} / {before[1]:.1f} before, {after[0]:.1f} / {after[1]:.1f} after end to end")
    assert chunks == len(texts), (chunks, len(texts))
    print_table(
        f"Ingestion of {Path(args.corpus).name} ({files} files, {chunks:,} chunks): end to end against the model alone",
        ["", "wall s", "chunks / wall s", "CPU s", "chunks / CPU s"],
        [
            ["model alone", f"{model_wall:.1f}", f"{chunks / model_wall:.1f}", f"{model_cpu:.1f}", f"{chunks / model_cpu:.1f}"],
            ["end to end", f"{wall:.1f}", f"{chunks / wall:.1f}", f"{cpu:.1f}", f"{chunks / cpu:.1f}"],
            ["ratio", "", f"{model_wall / wall:.0%}", "", f"{model_cpu / cpu:.0%}"],
        ],
    )
    print("target: end to end ≥ 85 % of the model alone")


if __name__ == "__main__":
    main()

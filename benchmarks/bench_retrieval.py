"""Search latency on the embedded default (Qdrant local mode) at 1k, 10k and 100k chunks,
filtered by project and by ``sources``, dense and hybrid; and ingestion throughput.

The corpus is synthetic: texts drawn from a fixed French vocabulary, two projects, files of 100
chunks. Engine figures use deterministic hash embeddings (384-d, no model) so that they measure
the store; the real model's cost is measured apart (query embedding, and ingestion chunks/s with
all-MiniLM-L6-v2). Targets: ≤ 20 ms p50 at 100k filtered; ≥ 500 chunks/s ingested.

    python -m benchmarks.bench_retrieval [--sizes 1000,10000,100000] [--queries 50]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from langchain_core.embeddings import DeterministicFakeEmbedding

from benchmarks.common import ms, print_table, summary
from retrievers.base import Chunk
from retrievers.embeddings import LocalEmbeddings
from retrievers.ingestion import ingest_bytes
from retrievers.qdrant import QdrantDocumentStore
from routeur.settings import Settings

VOCABULARY = (
    "serveur réseau quota budget sauvegarde sécurité archive planning projet équipe document "
    "rapport contrat facture client fournisseur livraison stock commande paiement audit risque "
    "conformité incident maintenance déploiement version test qualité performance mémoire disque "
    "processeur licence utilisateur compte accès jeton session journal alerte seuil tableau"
).split()
CHUNKS_PER_FILE = 100


def text(rng: random.Random, words: int = 60) -> str:
    return " ".join(rng.choice(VOCABULARY) for _ in range(words)) + "."


async def fill(store: QdrantDocumentStore, chunks: int, rng: random.Random) -> dict[str, list[str]]:
    files: dict[str, list[str]] = {"alpha": [], "beta": []}
    for index in range(chunks // CHUNKS_PER_FILE):
        project = ("alpha", "beta")[index % 2]
        file_id = f"file-{index:05d}"
        await store.upsert_file(
            project_id=project, file_id=file_id, title=f"Doc {index}", url=None,
            chunks=[Chunk(text(rng)) for _ in range(CHUNKS_PER_FILE)],
        )  # fmt: skip
        files[project].append(file_id)
    return files


async def latencies(store: QdrantDocumentStore, files: dict[str, list[str]], queries: int, rng: random.Random) -> list[list[str]]:
    rows = []
    for mode in ("dense", "hybrid"):
        for label, sources in (("project", None), ("project + 5 sources", rng.sample(files["alpha"], min(5, len(files["alpha"]))))):
            timings = []
            for _ in range(queries):
                query = " ".join(rng.sample(VOCABULARY, 4))
                started = time.perf_counter()
                await store.search(query, project_id="alpha", sources=sources, top_k=5, mode=mode)
                timings.append(time.perf_counter() - started)
            p50, p95, _ = summary(timings)
            rows.append([mode, label, ms(p50), ms(p95)])
    return rows


async def run(sizes: list[int], queries: int) -> None:
    rng = random.Random(7)
    fake = DeterministicFakeEmbedding(size=384)
    for size in sizes:
        settings = Settings(_env_file=None, data_dir=Path(tempfile.mkdtemp(prefix="bench-retrieval-")))
        store = QdrantDocumentStore(settings, fake)
        started = time.perf_counter()
        files = await fill(store, size, rng)
        fill_seconds = time.perf_counter() - started
        count = queries if size <= 10_000 else max(10, queries // 5)
        rows = await latencies(store, files, count, rng)
        print_table(
            f"Search, Qdrant local mode, {size:,} chunks ({count} queries each; filled at {size / fill_seconds:,.0f} chunks/s "
            "with hash embeddings)",
            ["mode", "filter", "p50 ms", "p95 ms"],
            rows,
        )
        store.close()

    model = LocalEmbeddings()
    model.embed_query("warm-up")
    timings = []
    for _ in range(50):
        started = time.perf_counter()
        await model.aembed_query(" ".join(rng.sample(VOCABULARY, 6)))
        timings.append(time.perf_counter() - started)
    p50, p95, _ = summary(timings)
    settings = Settings(_env_file=None, data_dir=Path(tempfile.mkdtemp(prefix="bench-ingest-")))
    store = QdrantDocumentStore(settings, model)
    body = "\n\n".join(text(rng, 120) for _ in range(40))  # ≈ 40-60 chunks of ~900 characters
    started = time.perf_counter()
    total = 0
    for index in range(10):
        total += (await ingest_bytes(store, project_id="alpha", filename=f"f{index}.txt", data=body.encode() + str(index).encode())).chunks
    seconds = time.perf_counter() - started
    store.close()
    print_table(
        "All-MiniLM-L6-v2 on this machine's CPU",
        ["measure", "value"],
        [["query embedding p50 / p95 ms", f"{ms(p50)} / {ms(p95)}"], ["ingestion (parse, chunk, embed, upsert)", f"{total / seconds:.0f} chunks/s ({total} chunks)"]],
    )
    print("targets: ≤ 20 ms p50 at 100k filtered; ≥ 500 chunks/s ingested")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(run([int(s) for s in args.sizes.split(",")], args.queries))


if __name__ == "__main__":
    main()

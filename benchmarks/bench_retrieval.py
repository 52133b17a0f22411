"""Retrieval engines side by side — Qdrant's embedded engine (qdrant-edge, the default) and the
previous one (qdrant-client local mode, up to ``--local-max`` chunks) — and real ingestion.

Real text and real vectors: the chunks of ``../shared/corpora/python-docs-fr`` (310 French files)
embedded once with all-MiniLM-L6-v2. A size beyond the corpus repeats its chunks with a small
Gaussian perturbation of their vectors (σ = ``--noise`` per dimension, renormalised), so the
neighbourhood structure HNSW sees stays that of the real model (random vectors would be a
worst case no real corpus shows). Two projects, files of 100 chunks. Store timings use the
precomputed query vectors (the model's own 12 ms per query is measured apart).

Measured per engine and size: p50/p95 of dense, sparse and hybrid searches filtered by project
and by 5 ``sources``; upsert rate with precomputed vectors (the whole ``upsert_file`` path:
sparse encoding, staging, publish); the HNSW build; reopening the store and the RSS of a fresh
process holding the model and the store; recall@10 of the HNSW search against exact search;
and the cost of per-project IDF. Ingestion against the model alone: ``benchmarks.bench_ingestion``;
the HNSW settings' measurements: ``benchmarks.bench_hnsw``.

    python -m benchmarks.bench_retrieval [--sizes 1000,10000,100000] [--queries 50] [--vectors-cache DIR] [--json]

With ``--json`` the last line is one JSON object for the embedded engine at the largest size.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from benchmarks.common import ms, print_table, summary
from retrievers.base import Chunk
from retrievers.ingestion import expand_paths, prepare
from retrievers.sparse import SparseEncoder, SparseVector
from routeur.settings import Settings

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora" / "python-docs-fr"
CHUNKS_PER_FILE = 100
MODES = [
    ("dense_project", "dense", False),
    ("dense_sources", "dense", True),
    ("sparse_project", "sparse", False),
    ("hybrid_project", "hybrid", False),
    ("hybrid_sources", "hybrid", True),
]


class PrecomputedSparse(SparseEncoder):
    """Sparse vectors of the corpus' chunks computed once, as the dense ones are: the upsert rate
    is the store's (the encoder's own rate is printed apart)."""

    def __init__(self, texts: list[str]) -> None:
        super().__init__()
        self.known = {t: super(PrecomputedSparse, self).encode_document(t) for t in dict.fromkeys(texts)}

    def encode_document(self, text: str) -> SparseVector:
        found = self.known.get(text)
        return found if found is not None else super().encode_document(text)


class Precomputed(Embeddings):
    """Vectors looked up by text: the store's own cost, without the model's."""

    size = 384

    def __init__(self) -> None:
        self.vectors: dict[str, list[float]] = {}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.vectors[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.vectors[text]


def corpus_subset(root: Path, limit: int | None) -> Path:
    """The corpus, or a copy of its first ``limit`` files (by path) in a temporary folder."""
    if not limit:
        return root
    target = Path(tempfile.mkdtemp(prefix="bench-corpus-"))
    for path, name in expand_paths([root])[:limit]:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes(path.read_bytes())
    return target


def load_corpus(root: Path) -> tuple[list[tuple[str, str, list[Chunk]]], list[str]]:
    """(file name, title, chunks) per file, and every chunk's indexed text in order."""
    files = []
    texts = []
    for path, name in expand_paths([root]):
        document, chunks = prepare(name, path.read_bytes())
        chunk_objects = [Chunk(c) for c in chunks]
        files.append((name, document.title, chunk_objects))
        texts.extend(c.indexed_text(document.title) for c in chunk_objects)
    return files, texts


def embed_corpus(texts: list[str]) -> tuple[np.ndarray, float]:
    """The model alone on every chunk (cached on disk by content): vectors and chunks/s."""
    from retrievers.embeddings import LocalEmbeddings

    model = LocalEmbeddings()
    model.embed_query("warm-up")
    started = time.perf_counter()
    vectors = np.asarray(model.embed_documents(texts), dtype=np.float32)
    return vectors, len(texts) / (time.perf_counter() - started)


def synthetic(texts: list[str], vectors: np.ndarray, size: int, noise: float, rng: np.random.Generator):
    """``size`` chunks cycling over the real ones; copies get perturbed vectors."""
    base = np.arange(size) % len(texts)
    out = vectors[base].copy()
    copies = np.arange(size) >= len(texts)
    out[copies] += rng.normal(0, noise, (int(copies.sum()), vectors.shape[1])).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return base, out


def open_store(engine: str, data_dir: Path, embeddings: Embeddings, sparse: SparseEncoder | None = None):
    settings = Settings(_env_file=None, data_dir=data_dir)
    if engine == "qdrant-edge":
        from retrievers.edge import EdgeDocumentStore

        return EdgeDocumentStore(settings, embeddings, sparse, batch_size=CHUNKS_PER_FILE, optimize_after=10**12)
    from retrievers.qdrant import QdrantDocumentStore

    return QdrantDocumentStore(settings, embeddings, sparse, batch_size=CHUNKS_PER_FILE)


async def fill(store: Any, embeddings: Precomputed, texts: list[str], base: np.ndarray, vectors: np.ndarray):
    files: dict[str, list[str]] = {"alpha": [], "beta": []}
    seconds = 0.0
    for index, start in enumerate(range(0, len(base), CHUNKS_PER_FILE)):
        project = ("alpha", "beta")[index % 2]
        file_id = f"file-{index:05d}"
        rows = range(start, min(start + CHUNKS_PER_FILE, len(base)))
        chunks = [Chunk(texts[base[i]]) for i in rows]
        embeddings.vectors = {c.indexed_text(""): vectors[i].tolist() for c, i in zip(chunks, rows, strict=True)}
        started = time.perf_counter()
        await store.upsert_file(project_id=project, file_id=file_id, title="", url=None, chunks=chunks)
        seconds += time.perf_counter() - started
        files[project].append(file_id)
    return files, len(base) / seconds


async def latencies(store: Any, embeddings: Precomputed, queries: list[tuple[str, list[float]]], files, rng):
    sources = rng.sample(files["alpha"], min(5, len(files["alpha"])))
    p50, p95 = {}, {}
    for label, mode, restricted in MODES:
        timings = []
        for text, vector in queries:
            embeddings.vectors = {text: vector}
            started = time.perf_counter()
            await store.search(text, project_id="alpha", sources=sources if restricted else None, top_k=5, mode=mode)
            timings.append(time.perf_counter() - started)
        p50[label], p95[label], _ = summary(timings)
    return p50, p95


def edge_measures(store: Any, queries: list[tuple[str, list[float]]]) -> dict[str, float]:
    """Recall@10 of HNSW against exact search (project filter), exact dense latency, and
    sparse latency with IDF over the project against IDF over the whole store."""
    from qdrant_edge import FieldCondition, Filter, IdfParams, MatchValue, Query, QueryRequest, SearchParams
    from qdrant_edge import SparseVector as EdgeSparse

    from retrievers.edge import dense_search_params

    shard = store._shard
    flt = Filter(must=[FieldCondition("project_id", match=MatchValue("alpha"))])
    recalls, exact_t = [], []
    for _, vector in queries:
        approx = {p.id for p in shard.query(QueryRequest(limit=10, query=Query.Nearest(vector, using="dense"), filter=flt, params=dense_search_params()))}
        started = time.perf_counter()
        exact = {p.id for p in shard.query(QueryRequest(limit=10, query=Query.Nearest(vector, using="dense"), filter=flt, params=SearchParams(exact=True)))}
        exact_t.append(time.perf_counter() - started)
        recalls.append(len(approx & exact) / max(1, len(exact)))
    scoped, shared = [], []
    for text, _ in queries:
        sparse = store._sparse.encode_query(text)
        query = Query.Nearest(EdgeSparse(sparse.indices, sparse.values), using="sparse")
        for params, sink in ((SearchParams(idf=IdfParams(corpus=flt)), scoped), (None, shared)):
            started = time.perf_counter()
            shard.query(QueryRequest(limit=5, query=query, filter=flt, params=params))
            sink.append(time.perf_counter() - started)
    return {
        "recall": float(np.mean(recalls)),
        "exact_p50": summary(exact_t)[0],
        "sparse_project_idf_p50": summary(scoped)[0],
        "sparse_global_idf_p50": summary(shared)[0],
    }


def reopen_in_fresh_process(engine: str, data_dir: Path) -> tuple[float, float]:
    """Seconds to reopen the store and answer one query, and the RSS of that process once it
    holds the loaded model and the store (what a freshly started server holds)."""
    code = (
        "import json, resource, time, asyncio\n"
        "from pathlib import Path\n"
        "from retrievers.embeddings import LocalEmbeddings\n"
        "from benchmarks.bench_retrieval import open_store\n"
        "model = LocalEmbeddings(); model.embed_query('warm-up')\n"
        "started = time.perf_counter()\n"
        f"store = open_store({engine!r}, Path({str(data_dir)!r}), model)\n"
        "asyncio.run(store.search('fonction', project_id='alpha', mode='hybrid'))\n"
        "seconds = time.perf_counter() - started\n"
        "rss = int([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1]) / 1024\n"
        "store.close()\n"
        "print(json.dumps([seconds, rss]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, rss = json.loads(out.stdout.strip().splitlines()[-1])
    return seconds, rss


def server_rss(data_dir: Path, queries: list[tuple[str, list[float]]]) -> float:
    """RSS (MB) of ``routeur serve`` on the store, after answering questions on the big project."""
    import httpx

    from tests.support.api_support import ServerProcess

    server = ServerProcess(data_dir, ROUTEUR_DEV_PROJECTS='["alpha", "beta"]', ROUTEUR_RATE_LIMIT_PER_MINUTE="100000000").start()
    try:
        with httpx.Client(base_url=server.url, headers=server.token(), timeout=120) as client:
            for text, _ in queries[:20]:
                client.post("/completion", json={"message": text, "project_id": "alpha"}).raise_for_status()
            return client.get("/health/stats").json()["rss_bytes"] / 2**20
    finally:
        server.stop()


async def engine_run(
    engine: str,
    size: int,
    corpus: tuple,
    query_count: int,
    noise: float,
    local_queries: int | None = None,
    with_server: bool = False,
) -> dict[str, Any]:
    texts, vectors, queries, sparse = corpus
    rng = np.random.default_rng(size)
    base, sized = synthetic(texts, vectors, size, noise, rng)
    data_dir = Path(tempfile.mkdtemp(prefix=f"bench-{engine}-{size}-"))
    embeddings = Precomputed()
    store = open_store(engine, data_dir, embeddings, sparse)
    files, upsert_rate = await fill(store, embeddings, texts, base, sized)
    result: dict[str, Any] = {"engine": engine, "chunks": size, "upsert_chunks_per_s": round(upsert_rate)}
    if engine == "qdrant-edge":
        started = time.perf_counter()
        store.optimize()
        result["optimize_s"] = round(time.perf_counter() - started, 1)
    count = query_count if engine == "qdrant-edge" else min(query_count, local_queries or query_count)
    p50, p95 = await latencies(store, embeddings, queries[:count], files, random.Random(size))
    result["p50_ms"] = {k: round(v * 1000, 2) for k, v in p50.items()}
    result["p95_ms"] = {k: round(v * 1000, 2) for k, v in p95.items()}
    if engine == "qdrant-edge":
        extra = edge_measures(store, queries[:count])
        result["recall_at_10"] = round(extra["recall"], 4)
        result["exact_dense_p50_ms"] = round(extra["exact_p50"] * 1000, 2)
        result["sparse_idf_project_p50_ms"] = round(extra["sparse_project_idf_p50"] * 1000, 2)
        result["sparse_idf_global_p50_ms"] = round(extra["sparse_global_idf_p50"] * 1000, 2)
    else:
        result["recall_at_10"] = 1.0  # local mode searches exhaustively
    store.close()
    result["reopen_s"], result["rss_mb"] = (round(x, 2) for x in reopen_in_fresh_process(engine, data_dir))
    if engine == "qdrant-edge" and with_server:
        result["server_rss_mb"] = round(server_rss(data_dir, queries))
    return result


def cached_vectors(texts: list[str], cache_dir: Path) -> tuple[np.ndarray, float]:
    """The model's vectors of ``texts``, embedded once and kept in ``cache_dir`` by content."""
    key = hashlib.sha256("\x1e".join(texts).encode()).hexdigest()[:16]
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"bench-retrieval-{key}.npz"
    if path.exists():
        saved = np.load(path)
        return saved["vectors"], float(saved["rate"])
    vectors, rate = embed_corpus(texts)
    np.savez(path, vectors=vectors, rate=rate)
    return vectors, rate


def query_set(texts: list[str], count: int) -> tuple[list[tuple[str, list[float]]], float]:
    """Queries a reader might type — eight words of a random chunk — with their real vectors,
    and the model's p50 per query."""
    from retrievers.embeddings import LocalEmbeddings

    rng = random.Random(11)
    model = LocalEmbeddings()
    out, timings = [], []
    for text in rng.sample(texts, count):
        words = text.split()
        start = rng.randrange(max(1, len(words) - 8))
        query = " ".join(words[start : start + 8])
        started = time.perf_counter()
        vector = model.embed_query(query)
        timings.append(time.perf_counter() - started)
        out.append((query, vector))
    return out, summary(timings)[0]


async def run(args: argparse.Namespace) -> dict[str, Any] | None:
    root = corpus_subset(Path(args.corpus), args.corpus_files)
    _, texts = load_corpus(root)
    vectors, _ = cached_vectors(texts, Path(args.vectors_cache))
    queries, query_p50 = query_set(texts, args.queries)
    started = time.process_time()
    sparse = PrecomputedSparse(texts)
    sparse_rate = len(texts) / (time.process_time() - started)
    print(
        f"corpus: {len(texts):,} chunks of {Path(args.corpus).name} ({args.corpus_files or 'all'} files); the model takes "
        f"{ms(query_p50)} ms per query; the sparse encoder {sparse_rate:,.0f} chunks per CPU second (precomputed below)"
    )
    results = []
    sizes = [int(s) for s in args.sizes.split(",") if s]
    for size in sizes:
        for engine in ("qdrant-edge", "qdrant-local"):
            if engine == "qdrant-local" and size > args.local_max:
                continue
            with_server = args.server_rss and size == sizes[-1]
            result = await engine_run(engine, size, (texts, vectors, queries, sparse), args.queries, args.noise, args.local_queries, with_server)
            results.append(result)
            print(json.dumps(result), flush=True)
    rows = []
    if not results:
        return None
    for r in results:
        rows.append(
            [r["engine"], f"{r['chunks']:,}"]
            + [f"{r['p50_ms'][k]:.1f} / {r['p95_ms'][k]:.1f}" for k, _, _ in MODES]
            + [f"{r['upsert_chunks_per_s']:,}", f"{r['reopen_s']:.2f}", f"{r['rss_mb']:.0f}", f"{r['recall_at_10']:.3f}"]
        )
    print_table(
        "Search p50 / p95 ms (store only), upsert with precomputed vectors, reopen, RSS (model included), recall@10",
        ["engine", "chunks"] + [k for k, _, _ in MODES] + ["upsert/s", "reopen s", "RSS MB", "recall@10"],
        rows,
    )
    edge = [r for r in results if r["engine"] == "qdrant-edge"]
    print_table(
        "qdrant-edge: HNSW against exact, per-project IDF cost, graph build",
        ["chunks", "dense HNSW p50 ms", "dense exact p50 ms", "sparse IDF project p50 ms", "sparse IDF global p50 ms", "optimize s"],
        [[f"{r['chunks']:,}"] + [str(x) for x in (r["p50_ms"]["dense_project"], r["exact_dense_p50_ms"], r["sparse_idf_project_p50_ms"], r["sparse_idf_global_p50_ms"], r["optimize_s"])] for r in edge],
    )  # fmt: skip
    print("targets (embedded, 100k): hybrid p50 ≤ 20 ms, dense ≤ 10 ms, same with 5 sources; reopen ≤ 3 s; RSS ≤ 1 GB;")
    print("upsert ≥ 5,000 chunks/s; recall@10 ≥ 0.98 (on the real model: benchmarks.bench_hnsw)")
    if not edge:
        return None
    last = edge[-1]
    keys = ("engine", "chunks", "p50_ms", "p95_ms", "reopen_s", "rss_mb", "upsert_chunks_per_s", "recall_at_10", "server_rss_mb")
    if "server_rss_mb" in last:
        print(f"routeur serve on the {last['chunks']:,}-chunk embedded store, after 20 answers: RSS {last['server_rss_mb']} MB")
    return {k: last[k] for k in keys if k in last}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--local-max", type=int, default=10_000, help="Largest size the old local mode is run at")
    parser.add_argument("--noise", type=float, default=0.01, help="σ per dimension of the copies' perturbation")
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--corpus-files", type=int, default=None, help="Use only the first N files of the corpus")
    parser.add_argument("--local-queries", type=int, default=None, help="Queries per mode on local mode (default: --queries)")
    parser.add_argument("--vectors-cache", default=tempfile.gettempdir(), help="Folder keeping the corpus' vectors between runs")
    parser.add_argument("--server-rss", action="store_true", help="Also start `routeur serve` on the largest embedded store and read its RSS")
    parser.add_argument("--json", action="store_true", help="Print one JSON object on the last line")
    args = parser.parse_args()
    summary_line = asyncio.run(run(args))
    if args.json and summary_line is not None:
        print(json.dumps(summary_line))


if __name__ == "__main__":
    main()

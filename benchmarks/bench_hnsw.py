"""The embedded engine's HNSW settings, chosen on the real embedding model.

1. **Recall@10 against exact search** on the real chunks of ``../shared/corpora/python-docs-fr``
   embedded with all-MiniLM-L6-v2 (cached on disk, embedded once), split by file into two
   projects, every search filtered by project. Queries are real: the evaluation set's questions
   and eight-word snippets a reader might type, embedded by the same model. The graph is forced
   (tiny full-scan threshold) so every search goes through it; grid over ``m``, ``ef_construct``
   and the search ``hnsw_ef``.
2. **Exact search against the graph, by project size**: one store of ``--scale`` points (the real
   chunks, then copies with slightly perturbed vectors) split into projects of growing sizes;
   p50 of an exact scan against the graph search for each. Where the scan is faster decides the
   full-scan threshold (``retrievers.edge.FULL_SCAN_KB``).

    python -m benchmarks.bench_hnsw [--vectors-cache DIR] [--m 16,32] [--ef-construct 128,256]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.bench_retrieval import CORPUS, cached_vectors, load_corpus, query_set, synthetic
from benchmarks.common import print_table, summary

QUESTIONS = Path(__file__).resolve().parents[1] / "datasets" / "python-docs-fr" / "questions.jsonl"
PROJECT_SIZES = (1000, 2500, 5000, 7500, 10000, 15000)


def real_queries(texts: list[str], snippets: int) -> list[list[float]]:
    from retrievers.embeddings import LocalEmbeddings

    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
    vectors = LocalEmbeddings().embed_documents(questions)
    return vectors + [v for _, v in query_set(texts, snippets)[0]]


def build(vectors: np.ndarray, projects: list[str], *, m: int, ef_construct: int):
    """A shard holding ``vectors`` with their project (tenant-indexed), its graph built; seconds."""
    from qdrant_edge import EdgeOptimizersConfig, EdgeShard, KeywordIndexParams, Point, UpdateOperation

    from retrievers.edge import edge_config
    from retrievers.schema import DENSE

    path = tempfile.mkdtemp(prefix="bench-hnsw-")
    # indexing_threshold 1 KB: every segment gets a graph; full_scan 1 KB: every search uses it.
    config = edge_config(vectors.shape[1], m=m, ef_construct=ef_construct, full_scan_kb=1, optimizers=EdgeOptimizersConfig(indexing_threshold=1))
    shard = EdgeShard.create(path, config)
    shard.update(UpdateOperation.create_field_index("project_id", KeywordIndexParams(is_tenant=True)))
    for start in range(0, len(vectors), 1000):
        batch = range(start, min(start + 1000, len(vectors)))
        shard.update(UpdateOperation.upsert_points([Point(i, {DENSE: vectors[i].tolist()}, {"project_id": projects[i]}) for i in batch]))
    started = time.perf_counter()
    shard.optimize()
    return shard, time.perf_counter() - started


def search(shard, vector: list[float], project: str, *, ef: int | None) -> tuple[set, float]:
    from qdrant_edge import FieldCondition, Filter, MatchValue, Query, QueryRequest, SearchParams

    from retrievers.schema import DENSE

    params = SearchParams(exact=True) if ef is None else SearchParams(hnsw_ef=ef)
    flt = Filter(must=[FieldCondition("project_id", match=MatchValue(project))])
    started = time.perf_counter()
    points = shard.query(QueryRequest(limit=10, query=Query.Nearest(vector, using=DENSE), filter=flt, params=params))
    return {p.id for p in points}, time.perf_counter() - started


def recall_grid(vectors: np.ndarray, projects: list[str], queries: list[list[float]], args) -> list[list[str]]:
    rows = []
    for m in [int(x) for x in args.m.split(",")]:
        for ef_construct in [int(x) for x in args.ef_construct.split(",")]:
            shard, build_s = build(vectors, projects, m=m, ef_construct=ef_construct)
            exact = [(search(shard, q, p, ef=None)[0], p) for q in queries for p in ("alpha", "beta")]
            for ef in [int(x) for x in args.ef.split(",")]:
                recalls, timings = [], []
                for q, (truth, project) in zip([q for q in queries for _ in range(2)], exact, strict=True):
                    found, seconds = search(shard, q, project, ef=ef)
                    recalls.append(len(found & truth) / max(1, len(truth)))
                    timings.append(seconds)
                rows.append([str(m), str(ef_construct), str(ef), f"{np.mean(recalls):.4f}", f"{min(recalls):.1f}", f"{summary(timings)[0] * 1000:.2f}", f"{build_s:.1f}"])
                print("  ".join(rows[-1]), flush=True)
            shard.close()
    return rows


def crossover(texts: list[str], vectors: np.ndarray, queries: list[list[float]], args) -> list[list[str]]:
    from retrievers.edge import HNSW_EF, HNSW_EF_CONSTRUCT, HNSW_M

    rng = np.random.default_rng(7)
    _, sized = synthetic(texts, vectors, args.scale, args.noise, rng)
    files = list(range(0, args.scale, 100))
    random.Random(7).shuffle(files)
    projects = ["rest"] * args.scale
    cursor = 0
    for size in PROJECT_SIZES:
        for start in files[cursor : cursor + size // 100]:
            projects[start : start + 100] = [f"p{size}"] * len(projects[start : start + 100])
        cursor += size // 100
    shard, build_s = build(sized, projects, m=HNSW_M, ef_construct=HNSW_EF_CONSTRUCT)
    print(f"crossover store: {args.scale:,} points, graph built in {build_s:.1f} s", flush=True)
    rows = []
    for size in PROJECT_SIZES:
        exact_t, graph_t, recalls = [], [], []
        for q in queries:
            truth, seconds = search(shard, q, f"p{size}", ef=None)
            exact_t.append(seconds)
            found, seconds = search(shard, q, f"p{size}", ef=HNSW_EF)
            graph_t.append(seconds)
            recalls.append(len(found & truth) / max(1, len(truth)))
        exact_ms, graph_ms = summary(exact_t)[0] * 1000, summary(graph_t)[0] * 1000
        rows.append([f"{size:,}", f"{size * vectors.shape[1] * 4 // 1024:,}", f"{exact_ms:.2f}", f"{graph_ms:.2f}", f"{np.mean(recalls):.4f}", str(HNSW_EF)])
        print("  ".join(rows[-1]), flush=True)
    shard.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vectors-cache", default=tempfile.gettempdir(), help="Folder keeping the corpus' vectors between runs")
    parser.add_argument("--m", default="16,32")
    parser.add_argument("--ef-construct", default="128,256")
    parser.add_argument("--ef", default="32,64,128,256")
    parser.add_argument("--snippets", type=int, default=136, help="Snippet queries besides the evaluation set's questions")
    parser.add_argument("--scale", type=int, default=50_000, help="Points of the exact-vs-graph store")
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--skip-grid", action="store_true")
    parser.add_argument("--skip-crossover", action="store_true")
    args = parser.parse_args()
    files, texts = load_corpus(CORPUS)
    vectors, _ = cached_vectors(texts, Path(args.vectors_cache))
    projects = [("alpha", "beta")[i % 2] for i, (_, _, chunks) in enumerate(files) for _ in chunks]
    queries = real_queries(texts, args.snippets)
    print(f"{len(texts):,} real chunks in {len(files)} files ({projects.count('alpha'):,} alpha, {projects.count('beta'):,} beta); {len(queries)} queries × 2 projects")
    if not args.skip_grid:
        rows = recall_grid(vectors, projects, queries, args)
        print_table(
            "Recall@10 of the graph against exact search, real MiniLM vectors, filtered by project",
            ["m", "ef_construct", "hnsw_ef", "recall@10", "worst query", "p50 ms", "build s"],
            rows,
        )
    if not args.skip_crossover:
        rows = crossover(texts, vectors, queries, args)
        print_table(
            f"Exact scan against the graph by project size ({args.scale:,} points; the graph's recall on perturbed copies)",
            ["project points", "vectors KB", "exact p50 ms", "graph p50 ms", "graph recall@10", "hnsw_ef"],
            rows,
        )


if __name__ == "__main__":
    main()

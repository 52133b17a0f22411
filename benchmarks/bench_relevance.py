"""Retrieval relevance on an evaluation dataset: dense, sparse, the store's own hybrid and the
fusion above the store (``retrievers.fusion``), then the offline reranker on the fused candidates,
lexical and with the semantic order (``--semantic-weight``). Candidates only: no support bar.

For every documentary question (expected files given) it prints hit@1, hit@k, MRR@k and the
recall of the candidate pool (an expected file among the first ``--depth``), per method. The
corpus is ingested first into the data dir's store (an unchanged file is not written again).

    python -m benchmarks.bench_relevance datasets/python-docs-fr/questions.jsonl \\
        --ingest ../shared/corpora/python-docs-fr --data-dir /tmp/relevance-docs
    python -m benchmarks.bench_relevance demo/eval/questions.jsonl --ingest demo/corpus
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from langchain_core.messages import AIMessage, HumanMessage

from benchmarks.common import print_table
from nodes.intent import _heuristic
from retrievers import build_store
from retrievers.base import DocumentStore, Hit
from retrievers.ingestion import ingest_paths
from routeur.evaluation.dataset import Example, load_dataset
from routeur.settings import Settings

if TYPE_CHECKING:
    from retrievers.fusion import FusionConfig

Search = Callable[[DocumentStore, Example, str, int], Awaitable[list[Hit]]]


def query_of(example: Example) -> str:
    """The query V2's offline intent step would search for (follow-ups carry their context)."""
    history = [m for turn in example.history for m in (HumanMessage(turn), AIMessage(""))]
    return _heuristic(example.question, history).standalone_question


def store_mode(mode: str) -> Search:
    async def run(store: DocumentStore, e: Example, q: str, k: int) -> list[Hit]:
        return await store.search(q, project_id=e.project_id, sources=e.sources or None, top_k=k, mode=mode)  # type: ignore[arg-type]

    return run


def fused(config: FusionConfig, reranked: bool, semantic_weight: float = 0.0) -> Search:
    from nodes.rerank import rerank
    from retrievers.fusion import hybrid_search

    async def run(store: DocumentStore, e: Example, q: str, k: int) -> list[Hit]:
        hits = await hybrid_search(
            store, q, project_id=e.project_id, sources=e.sources or None, top_k=max(k, config.depth), config=config, similarity=semantic_weight > 0
        )
        return [scored.hit for scored in rerank(q, hits, semantic_weight)] if reranked else hits

    return run


def methods(fusions: dict[str, FusionConfig], semantic_weight: float = 0.0) -> dict[str, Search]:
    found = {"dense": store_mode("dense"), "sparse": store_mode("sparse"), "store hybrid (RRF k=60)": store_mode("hybrid")}
    for name, config in fusions.items():
        found[name] = fused(config, False)
        found[f"{name} + rerank"] = fused(config, True)
        if semantic_weight > 0:
            found[f"{name} + rerank, semantic {semantic_weight:g}"] = fused(config, True, semantic_weight)
    return found


def rank_of(hits: list[Hit], expected: set[str]) -> int | None:
    return next((n for n, h in enumerate(hits, start=1) if h["file_id"] in expected), None)


async def measure(store: DocumentStore, examples: list[Example], search: Search, k: int, depth: int) -> list[str]:
    ranks = []
    for example in examples:
        hits = await search(store, example, query_of(example), depth)
        ranks.append(rank_of(hits, set(example.file_ids)))
    n = len(ranks)
    hit1 = sum(r == 1 for r in ranks) / n
    hitk = sum(r is not None and r <= k for r in ranks) / n
    mrr = sum(1 / r for r in ranks if r is not None and r <= k) / n
    pool = sum(r is not None for r in ranks) / n
    return [f"{hit1:.3f}", f"{hitk:.3f}", f"{mrr:.3f}", f"{pool:.3f}"]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--ingest", type=Path, nargs="+", required=True)
    parser.add_argument("--data-dir", type=Path, help="Store folder (default: a temporary one)")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--depth", type=int, default=30)
    parser.add_argument("--store-only", action="store_true", help="Only the store's own modes (dense, sparse, hybrid)")
    parser.add_argument(
        "--semantic-weight", type=float, default=0.5, help="Also rerank with the dense similarity order at this weight (0: not measured)"
    )
    args = parser.parse_args()
    examples = [e for e in load_dataset(args.dataset) if e.file_ids]
    with tempfile.TemporaryDirectory() as tmp:
        store = build_store(Settings(data_dir=args.data_dir or Path(tmp)))
        try:
            for project in sorted({e.project_id for e in examples}):
                await ingest_paths(store, args.ingest, project_id=project, progress=False)
            from retrievers.fusion import FusionConfig

            fusions = {} if args.store_only else {
                "RRF k=60 1:1": FusionConfig("rrf", 1.0, 1.0, depth=args.depth),
                "RRF k=60 dense 0.5": FusionConfig("rrf", 0.5, 1.0, depth=args.depth),
                "DBSF 1:1": FusionConfig("dbsf", 1.0, 1.0, depth=args.depth),
                "DBSF dense 0.5": FusionConfig("dbsf", 0.5, 1.0, depth=args.depth),
            }
            rows = [[name, *await measure(store, examples, search, args.k, args.depth)] for name, search in methods(fusions, args.semantic_weight).items()]
        finally:
            store.close()
    print_table(f"{args.dataset}: {len(examples)} documentary questions", ["method", "hit@1", f"hit@{args.k}", f"MRR@{args.k}", f"in top {args.depth}"], rows)


if __name__ == "__main__":
    asyncio.run(main())

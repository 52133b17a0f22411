"""The deterministic reranker between search and evaluation.

Search ranks by one vector kind or a fusion of two; this reorders its candidates by how well each
one answers the question, on signals an LLM grader would also look at:

- **coverage**: the question's words the passage holds (its text, its title and heading path),
  each word weighted by its rarity among the candidates — a word every candidate has tells little;
- **proximity**: the best single sentence's coverage — the words of the question together in one
  sentence, not scattered over the passage;
- **heading match**: the question's words in the document title and section path;
- **retrieval**: the search score, relative to the best candidate's;
- **semantic** (when a weight is given): the order of the passages by their dense similarity to
  the query (``Hit.similarity``, read from the store, no second embedding), fused with the lexical
  order by weighted reciprocal rank to rank files (``semantic``). A passage that says the question
  in other words shares few of its words but can sit near it in the dense space; ranks, not
  cosines, so that models whose cosines live on different scales (all-MiniLM-L6-v2 0.1–0.7,
  multilingual-e5 0.7–0.9) need no calibration.

Then two file-level steps for the passages kept (``nodes.evaluation``): ``interleave_files`` (each
file's best passage before any file's second, so one file cannot fill the first places) and
``by_file_evidence`` (a file whose several candidates match comes first).

A word matches when any of its stems (French or English, accents folded) does, so "récursive"
finds "récursion". The scores are in [0, 1]; ``support`` (coverage and proximity, without the
retrieval prior) is what the offline evaluation compares with its threshold.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

from retrievers.base import Chunk, Hit
from retrievers.text import question_words, rarity_weights, sentences, share, stem_set

COVERAGE_WEIGHT = 0.4
PROXIMITY_WEIGHT = 0.25
HEADING_WEIGHT = 0.1
RETRIEVAL_WEIGHT = 0.25
SEMANTIC_RRF_K = 60
"""``rerank``'s fusion of the lexical and semantic orders: ``(1 − w) / (k + lexical rank) +
w / (k + semantic rank)``, with the usual reciprocal-rank constant."""
FILE_WEIGHT = 0.1
"""``by_file_evidence``: share of a file's second-best candidate score added to its passages.
Measured on both development sets (docs/relevance.md): 0.05–0.1 give the same figures."""


@dataclass(frozen=True)
class Scored:
    hit: Hit
    score: float
    coverage: float
    proximity: float
    heading: float

    @property
    def support(self) -> float:
        """How much of the question the passage itself answers (no retrieval prior)."""
        return (COVERAGE_WEIGHT * self.coverage + PROXIMITY_WEIGHT * self.proximity) / (COVERAGE_WEIGHT + PROXIMITY_WEIGHT)


def rerank(question: str, hits: list[Hit], semantic_weight: float = 0.0) -> list[Scored]:
    """``hits`` best first by the combined score (ties keep the search order); with a
    ``semantic_weight`` in (0, 1], that order fused with the hits' dense similarity order
    (``semantic``). The coverage, proximity and heading match, hence ``support``, stay lexical."""
    words = question_words(question)
    if not hits:
        return []
    contexts = [stem_set(Chunk(h["text"], h.get("section", "")).context(h["title"])) for h in hits]
    texts = [stem_set(h["text"]) for h in hits]
    weights = rarity_weights(words, [text | context for text, context in zip(texts, contexts, strict=True)])
    best = max((h["score"] for h in hits), default=0.0)
    scored: list[Scored] = []
    for hit, text, context in zip(hits, texts, contexts, strict=True):
        coverage = share(words, weights, text | context)
        heading = share(words, weights, context)
        proximity = max((share(words, weights, stem_set(sentence)) for _, sentence in sentences(hit["text"])), default=0.0)
        prior = hit["score"] / best if best > 0 else 0.0
        score = COVERAGE_WEIGHT * coverage + PROXIMITY_WEIGHT * proximity + HEADING_WEIGHT * heading + RETRIEVAL_WEIGHT * prior
        scored.append(Scored(hit, score, coverage, proximity, heading))
    lexical = sorted(scored, key=lambda s: s.score, reverse=True)
    return semantic(lexical, semantic_weight) if semantic_weight > 0 else lexical


def semantic(ranked: list[Scored], weight: float) -> list[Scored]:
    """``ranked`` reordered by weighted reciprocal rank of its own order and the passages' dense
    similarity order (``SEMANTIC_RRF_K``); each place gets the fused score.

    The fusion decides which file holds each place; a file's passages then fill its places in
    their lexical order. The dense vector tells what a passage is about, which is what sets files
    apart; which passage of a file holds the sentence that answers is better told by the question's
    words (the offline answer quotes sentences that hold them): measured, letting the fusion also
    reorder passages within a file lost answers. Passages without a similarity rank after those with
    one; when none has one, ``ranked`` is returned as it is."""
    if not any("similarity" in s.hit for s in ranked):
        return ranked
    by_similarity = sorted(range(len(ranked)), key=lambda i: ranked[i].hit.get("similarity", float("-inf")), reverse=True)
    semantic_rank = {index: rank for rank, index in enumerate(by_similarity, start=1)}
    fused = [(1 - weight) / (SEMANTIC_RRF_K + i + 1) + weight / (SEMANTIC_RRF_K + semantic_rank[i]) for i in range(len(ranked))]
    by_file: dict[str, list[Scored]] = defaultdict(list)
    for s in ranked:
        by_file[s.hit["file_id"]].append(s)
    taken: dict[str, int] = defaultdict(int)
    placed: list[Scored] = []
    for i in sorted(range(len(ranked)), key=lambda i: fused[i], reverse=True):
        file_id = ranked[i].hit["file_id"]
        placed.append(replace(by_file[file_id][taken[file_id]], score=fused[i]))
        taken[file_id] += 1
    return placed


def by_file_evidence(chosen: list[Scored], candidates: list[Scored]) -> list[Scored]:
    """``chosen`` reordered by score plus ``FILE_WEIGHT`` × its file's second-best score among
    ``candidates`` (nothing for a file with one candidate), files interleaved.

    A file whose several candidates match the question is likelier the one that answers it. The
    bonus is the same for all passages of a file: it orders files, not the passages within one;
    it reorders the chosen passages without changing which ones they are."""
    scores: dict[str, list[float]] = defaultdict(list)
    for s in candidates:
        scores[s.hit["file_id"]].append(s.score)
    second = {file_id: sorted(found, reverse=True)[1] for file_id, found in scores.items() if len(found) > 1}
    return interleave_files(sorted(chosen, key=lambda s: s.score + FILE_WEIGHT * second.get(s.hit["file_id"], 0.0), reverse=True))


def interleave_files(ranked: list[Scored]) -> list[Scored]:
    """Each file's best passage first (in ``ranked`` order), then each file's second, and so on:
    several passages of one file cannot push a second file out of the first few."""
    rounds: list[list[Scored]] = []
    seen: dict[str, int] = defaultdict(int)
    for s in ranked:
        n = seen[s.hit["file_id"]]
        seen[s.hit["file_id"]] += 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(s)
    return [s for passages in rounds for s in passages]

"""Evaluation: keep only the hits that help answer the question.

The search's candidates are reranked first (``nodes.rerank``); then an LLM grades the best ones in
one structured call, or, offline, the passages whose support clears a threshold are kept, then
their first files are searched again on their own and those files' passages compete for the last
places (``within_kept_files``). Kept passages accumulate across V2's search rounds."""

from __future__ import annotations

from collections import Counter
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from graphs import events
from graphs.context import AgentContext
from graphs.state import AgentState
from nodes import prompts
from nodes.models.factory import ModelRegistry
from nodes.rerank import Scored, by_file_evidence, interleave_files, rerank
from nodes.runtime import context_of, dependencies, reports_errors
from nodes.search import search_within_files
from retrievers.base import Chunk, Hit
from retrievers.text import names, stem_set

MIN_SUPPORT = 0.2
"""Offline: a passage is kept when it supports the question at least this much (``Scored.support``:
the share of the question's words it holds, rare words weighing more, with the best sentence's).
Chosen on the development sets (docs/relevance.md): below it, the questions the documents cannot
answer and the ones restricted to files that don't hold the answer get passages anyway."""
MIN_SHARE_OF_BEST = 0.4
"""Offline: passages far behind the best one are dropped, as a grader would. 0.4 rather than 0.6:
on python-docs-fr V2 hit@5 0.702 against 0.681 (a second file's passage kept), the demo set and
abstention unchanged; 0.0 lost an answer on the demo set (more passages, a worse sentence)."""

FOCUS_FILES = 2
"""Offline: the kept passages' first files, searched again on their own (``within_kept_files``).
Measured on both development sets (docs/relevance.md): three cost python-docs-fr V2 a question's
right file (ranked fifth) and an answer."""
PASSAGES_PER_FILE = 2
"""Offline: at most this many kept passages of one of those files (3 measured the same)."""
FILE_SEARCH_DEPTH = 10
"""Passages the within-file search returns (20 measured the same, 5 answered two fewer)."""


MIN_PASSAGE_SUPPORT = 0.1
"""Offline, with the reranker's semantic order: once some passage clears the bar above (the
documents answer the question), the others are kept down to this support, in that order. A
passage that says the answer in other words holds few of the question's words, and the dense
order can bring it up; whether to answer at all is still decided by the bar alone. Without the
semantic order the bar applies to every passage (the lower one, measured alone with MiniLM, lost
V2 a file and an answer on python-docs-fr)."""


def support_bar(ranked: list[Scored]) -> float:
    """The support a passage of ``ranked`` (not empty) needs to be kept: ``MIN_SUPPORT``, and
    ``MIN_SHARE_OF_BEST`` of the best one's."""
    return max(MIN_SUPPORT, MIN_SHARE_OF_BEST * max(s.support for s in ranked))


def supported(ranked: list[Scored], top_k: int, question: str = "", *, semantic: bool = False) -> list[Hit]:
    """The reranked passages to answer from, at most ``top_k``; none unless one of them supports
    the question enough (``MIN_SUPPORT``, ``MIN_SHARE_OF_BEST``) and mentions every name it uses
    (``unknown_names``). Then the passages that clear that bar — or ``MIN_PASSAGE_SUPPORT`` when
    ``ranked`` is in the ``semantic`` order — and mention those names, in the reranker's order:
    each file's best passage first, then each file's second (``interleave_files``), so that one
    file's passages leave room for the others; the files with more matching candidates first
    (``by_file_evidence``)."""
    if not ranked:
        return []
    floor = support_bar(ranked)
    named = [s for s in ranked if not unknown_names(question, [s.hit])]
    if not any(s.support >= floor for s in named):
        return []
    passage_floor = min(floor, MIN_PASSAGE_SUPPORT) if semantic else floor
    kept = [s for s in named if s.support >= passage_floor]
    return [s.hit for s in by_file_evidence(interleave_files(kept)[: max(top_k, 1)], ranked)]


def _mentions(hit: Hit) -> frozenset[str]:
    """The stems of a passage's title, heading path and text: the two sets the reranker has
    already analysed (and cached), not a third text made of both."""
    return stem_set(Chunk(hit["text"], hit.get("section", "")).context(hit["title"])) | stem_set(hit["text"])


def unknown_names(question: str, hits: list[Hit]) -> list[str]:
    """The question's names (``Flask``, ``MongoDB``: capitalised words inside a sentence) that no
    passage of ``hits``, title or heading path mentions.

    Asked about a product, a place or a tool, a passage that shares the question's other words
    ("formater mon code") but never names it does not answer it: offline, such a passage is not
    kept (``supported`` asks this of each passage), so when no candidate names it the agents
    abstain. Measured on both development sets: requiring every name in each kept passage, rather
    than somewhere among the candidates, makes the agents abstain on one more question that must
    cite nothing (python-docs-fr, round one: 10 of 12 → 11 of 12) and loses no answerable one."""
    wanted = names(question)
    if not wanted:
        return []
    pool = frozenset().union(*(_mentions(h) for h in hits))
    return [word for word, stems in wanted if not stems & pool]


def with_file_passages(ranked: list[Scored], kept: list[Hit], files: list[str], question: str) -> list[Hit]:
    """``kept``, where a passage of one of ``files`` that is not kept yet, clears the support bar
    and outranks (in ``ranked``) the last kept passage of another file, takes that place.

    Documents first, then passages: once the first files are chosen, their other passages compete
    for the places of the files ranked below them, rather than waiting behind every file's best
    one (``interleave_files``). The kept files' order and the passages' count stay (a place left
    empty, the bar cut the rest: filling it lost answers); each of ``files`` holds at most
    ``PASSAGES_PER_FILE``."""
    if not ranked:
        return kept
    floor = support_bar(ranked)
    score = {s.hit["point_id"]: s.score for s in ranked}
    chosen = list(kept)
    taken = {h["point_id"] for h in chosen}
    held = Counter(h["file_id"] for h in chosen)
    for s in ranked:
        hit = s.hit
        if hit["point_id"] in taken or hit["file_id"] not in files or held[hit["file_id"]] >= PASSAGES_PER_FILE:
            continue
        if s.support < floor or unknown_names(question, [hit]):
            continue
        places = [i for i, h in enumerate(chosen) if h["file_id"] not in files and score.get(h["point_id"], 0.0) < s.score]
        if places:
            chosen[places[-1]] = hit
            held[hit["file_id"]] += 1
    return chosen


async def within_kept_files(ctx: AgentContext, question: str, hits: list[Hit], kept: list[Hit]) -> list[Hit]:
    """Offline, documents first, then passages: the first ``FOCUS_FILES`` files of the kept
    passages are searched again on their own, and their passages — the first candidates and what
    that search adds — compete with the kept ones (``with_file_passages``). The right file's
    answer often sits in a chunk the whole project's search ranked below its candidates
    (python-docs-fr: for about half the questions whose expected file is cited without the
    expected fact)."""
    files = list(dict.fromkeys(h["file_id"] for h in kept))[:FOCUS_FILES]
    store = (await dependencies()).store
    found = await search_within_files(store, question, project_id=ctx.project_id, files=files, sources=ctx.sources, top_k=FILE_SEARCH_DEPTH)
    known = {h["point_id"] for h in hits}
    # The within-file search scores on its own scale (fusion maps each list by its distribution):
    # a passage the first search left out ranked below all its candidates, so it takes the
    # lowest candidate's score as its retrieval prior.
    lowest = min((h["score"] for h in hits), default=0.0)
    new = [Hit(**{**h, "score": lowest}) for h in found if h["point_id"] not in known]  # type: ignore[typeddict-item]
    # Lexical order within the kept files, whatever the semantic weight: the offline answer quotes
    # the sentences holding the question's words (with multilingual-e5-small, the semantic order
    # here gave python-docs-fr V1 hit@5 0.617 and V2 fact recall 0.404 against 0.638 and 0.426).
    return with_file_passages(rerank(question, hits + new), kept, files, question)


class Relevance(BaseModel):
    relevant: list[int] = Field(description="Numbers of the passages that help answer the question")


@reports_errors("evaluation")
async def evaluate(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = context_of(runtime)
    runtime.stream_writer(events.phase("evaluation", "start"))
    # Passages are judged against the question as first understood (standalone, for a follow-up),
    # not against a later round's reformulation: more rounds find more candidates, not a lower bar.
    question = (state.get("queries") or [state["query"]])[0]
    ranked = rerank(question, state.get("hits", []), ctx.semantic_weight)
    models = (await dependencies()).models
    if not ranked:
        relevant: list[Hit] = []
    elif models.is_offline(ctx.model):
        relevant = supported(ranked, ctx.top_k, question, semantic=ctx.semantic_weight > 0)
        if relevant:
            relevant = await within_kept_files(ctx, question, state.get("hits", []), relevant)
    else:
        relevant = await _grade(models, ctx, question, [s.hit for s in ranked[: max(ctx.top_k, 1)]])
    kept = _merge(state.get("kept", []), relevant)[: max(ctx.top_k, 1)]
    runtime.stream_writer(events.phase("evaluation", "complete", hits=len(ranked), kept=len(kept)))
    return {"kept": kept}


async def _grade(models: ModelRegistry, ctx: AgentContext, question: str, hits: list[Hit]) -> list[Hit]:
    grader = models.structured(ctx.model, Relevance)
    passages = "\n\n".join(f"[{i}] {h['title']}\n{h['text']}" for i, h in enumerate(hits, start=1))
    verdict = await grader.ainvoke(
        [SystemMessage(prompts.EVALUATION_SYSTEM), HumanMessage(f"Question: {question}\n\nPassages:\n{passages}")]
    )
    chosen = sorted({n for n in verdict.relevant if 1 <= n <= len(hits)})
    return [hits[n - 1] for n in chosen]


def _merge(previous: list[Hit], new: list[Hit]) -> list[Hit]:
    seen = {h["point_id"] for h in previous}
    return previous + [h for h in new if h["point_id"] not in seen]

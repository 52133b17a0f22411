"""Scores of one answer against its example. Pure functions (but the optional LLM judge), so that
hand-made cases have known scores and LangSmith can call the same code.

A score is a float in [0, 1] (or a measured figure), or ``None`` when it does not apply — a
question with no expected file has no retrieval rank — and ``None`` never counts in a mean.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from graphs.events import exception_message
from routeur.evaluation import prompts
from routeur.evaluation.dataset import Example
from routeur.evaluation.targets import Answer

if TYPE_CHECKING:
    from nodes.models.factory import ModelRegistry

CITATION = re.compile(r"(?<!\w)\[(\d+(?:\s*,\s*\d+)*)\]")
"""A citation marker; one glued to a name (``argv[0]``, ``a[1]``) is an index quoted from a passage."""


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    higher_is_better: bool


METRICS: tuple[Metric, ...] = (
    Metric("hit_at_k", "hit@k", True),
    Metric("mrr", "MRR", True),
    Metric("citation_validity", "citation validity", True),
    Metric("fact_recall", "fact recall", True),
    Metric("answered", "answered (all facts, cited)", True),
    Metric("judge_score", "LLM judge", True),
    Metric("abstention", "abstention", True),
    Metric("error", "errors", False),
    Metric("latency_s", "latency (s)", False),
    Metric("time_to_first_token_s", "time to first token (s)", False),
    Metric("total_tokens", "tokens", False),
    Metric("cost_eur", "cost (EUR)", False),
    Metric("emissions_gCO2eq", "emissions (gCO2eq)", False),
    Metric("energy_kWh", "energy (kWh)", False),
)


def normalize(text: str) -> str:
    """Case, accents, typographic apostrophes and spacing do not decide whether a fact is there."""
    decomposed = unicodedata.normalize("NFKD", text.replace("’", "'"))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def cited_numbers(answer: str) -> set[int]:
    """``[1]``, ``[1][2]`` and ``[1, 2]`` all cite; ``argv[0]`` does not."""
    return {int(n) for group in CITATION.findall(answer) for n in group.split(",")}


def retrieval(example: Example, answer: Answer, k: int) -> dict[str, float | None]:
    """hit@k and reciprocal rank of the first cited passage from an expected file (sources come in
    the order the agent ranked them)."""
    if not example.file_ids:
        return {"hit_at_k": None, "mrr": None}
    expected = set(example.file_ids)
    rank = next((n for n, s in enumerate(answer.sources, start=1) if s["file_id"] in expected), None)
    return {"hit_at_k": float(rank is not None and rank <= k), "mrr": 1.0 / rank if rank else 0.0}


def citations(example: Example, answer: Answer, project_files: set[str] | None) -> dict[str, Any]:
    """Valid when every ``[n]`` names a returned source and every source lies inside the request's
    filter: the example's ``sources`` when given, and always the example's project."""
    if answer.error is not None:
        return {"citation_validity": None, "dangling_citations": [], "sources_outside_filter": []}
    returned = {s["id"] for s in answer.sources}
    dangling = sorted(cited_numbers(answer.answer) - returned)
    allowed = set(example.sources) or None
    outside = [
        s["file_id"]
        for s in answer.sources
        if (allowed is not None and s["file_id"] not in allowed) or (project_files is not None and s["file_id"] not in project_files)
    ]
    return {
        "citation_validity": float(not dangling and not outside),
        "dangling_citations": dangling,
        "sources_outside_filter": outside,
    }


def facts(example: Example, answer: Answer) -> dict[str, Any]:
    """Share of the expected facts the answer states."""
    if not example.facts:
        return {"fact_recall": None, "facts_missing": []}
    text = normalize(answer.answer)
    missing = [f for f in example.facts if normalize(f) not in text]
    return {"fact_recall": 1 - len(missing) / len(example.facts), "facts_missing": missing}


def answered(example: Example, answer: Answer) -> dict[str, float | None]:
    """A documentary answer that does the job: every expected fact stated, and at least one
    citation ``[n]`` of a passage from an expected file."""
    if not example.file_ids or not example.facts:
        return {"answered": None}
    text = normalize(answer.answer)
    expected = set(example.file_ids)
    cited = {s["file_id"] for s in answer.sources if s["id"] in cited_numbers(answer.answer)}
    complete = all(normalize(f) in text for f in example.facts)
    return {"answered": float(answer.error is None and complete and bool(cited & expected))}


def abstention(example: Example, answer: Answer) -> dict[str, float | None]:
    """Where no file should answer (chit-chat, a question outside the documents or outside the
    filter), a good agent cites nothing."""
    if example.file_ids:
        return {"abstention": None}
    return {"abstention": float(answer.error is None and not answer.sources and not cited_numbers(answer.answer))}


def performance(answer: Answer) -> dict[str, float | None]:
    """The answer's own metrics, as the API reports them (``None`` where unknown)."""
    meta = answer.metadata
    usage = meta.get("usage") or {}
    pricing = meta.get("pricing") or {}
    return {
        "error": float(answer.error is not None),
        "latency_s": meta.get("latency_s"),
        "time_to_first_token_s": meta.get("time_to_first_token_s"),
        "total_tokens": usage.get("total_tokens"),
        "cost_eur": pricing.get("total_cost"),
        "emissions_gCO2eq": meta.get("emissions_gCO2eq"),
        "energy_kWh": meta.get("energy_kWh"),
    }


def score(example: Example, answer: Answer, *, k: int, project_files: set[str] | None = None) -> dict[str, Any]:
    """Every evaluator but the judge: scores (see ``METRICS``) and their details."""
    return {
        **retrieval(example, answer, k),
        **citations(example, answer, project_files),
        **facts(example, answer),
        **answered(example, answer),
        **abstention(example, answer),
        **performance(answer),
    }


class Verdict(BaseModel):
    """The judge's structured answer; reasoning first, so the verdict follows from it."""

    reasoning: str = Field(description="One or two sentences comparing the answer with the reference")
    verdict: Literal["correct", "partially_correct", "incorrect"]


VERDICT_SCORES = {"correct": 1.0, "partially_correct": 0.5, "incorrect": 0.0}


class Judge:
    """An LLM grading answers against the reference answer and facts (a real provider's model)."""

    def __init__(self, model: str, models: ModelRegistry):
        if models.is_offline(model):
            raise ValueError(f"'{model}' cannot judge: the judge needs a language model (e.g. gpt-4o-mini)")
        self.model = model
        self._llm = models.structured(model, Verdict)

    async def __call__(self, example: Example, answer: Answer) -> dict[str, Any]:
        if not (example.reference or example.facts):
            return {"judge_score": None, "judge_reasoning": None}
        if answer.error is not None:
            return {"judge_score": 0.0, "judge_reasoning": "The agent failed to answer."}
        user = prompts.JUDGE_USER.format(
            question=example.question,
            reference=example.reference or "(none)",
            facts="; ".join(example.facts) or "(none)",
            answer=answer.answer or "(empty)",
        )
        try:
            verdict: Verdict = await self._llm.ainvoke([("system", prompts.JUDGE_SYSTEM), ("human", user)])  # type: ignore[assignment]
        except Exception as exc:  # the judge failing says nothing about the answer: no score, the answer is kept
            return {"judge_score": None, "judge_reasoning": None, "judge_error": exception_message(exc)}
        return {"judge_score": VERDICT_SCORES[verdict.verdict], "judge_reasoning": verdict.reasoning}


def default_judge_model(settings: Any) -> str | None:
    """The judge when none is named: the configured one, else a small model of a provider whose key
    is set; with no real provider there is no judge (fact recall still grades answers)."""
    from nodes.models.factory import ModelRegistry, ModelUnavailableError

    if settings.eval_judge_model:
        return settings.eval_judge_model
    models = ModelRegistry(settings)
    for model in ("gpt-4o-mini", "mistral-small-latest"):
        try:
            models.ensure_available(model)
        except ModelUnavailableError:
            continue
        return model
    return None

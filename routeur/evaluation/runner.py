"""Running a dataset through one or more agents and scoring every answer.

Every (agent, question) pair is one item of a bounded batch (``routeur.batch``), interleaved by
question so that agents share the load alike; a pair that fails is a row with its error, never a
lost row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from graphs.events import failure
from routeur.batch import ProgressCallback, run_batch
from routeur.evaluation import evaluators
from routeur.evaluation.dataset import Example
from routeur.evaluation.targets import Answer, Target


@dataclass
class EvalRow:
    """One agent's answer to one question, with its scores (see ``evaluators.METRICS``)."""

    agent: str
    example_id: str
    question: str
    answer: str
    sources: list[dict[str, Any]]
    error: dict[str, str] | None
    scores: dict[str, float | None]
    details: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def score_answer(
    example: Example, answer: Answer, *, k: int, project_files: set[str] | None, judge: evaluators.Judge | None = None
) -> dict[str, Any]:
    """All the scores of one answer and their details (the judge's too, when there is one)."""
    results = evaluators.score(example, answer, k=k, project_files=project_files)
    if judge is not None:
        results.update(await judge(example, answer))
    return results


def make_row(agent: str, example: Example, answer: Answer, results: dict[str, Any]) -> EvalRow:
    keys = {m.key for m in evaluators.METRICS}
    return EvalRow(
        agent=agent,
        example_id=example.id,
        question=example.question,
        answer=answer.answer,
        sources=[{"id": s["id"], "file_id": s["file_id"], "title": s["title"], "score": s["score"]} for s in answer.sources],
        error=answer.error,
        scores={m.key: results.get(m.key) for m in evaluators.METRICS},
        details={k: v for k, v in results.items() if k not in keys},
        metadata=answer.metadata,
    )


async def project_files_of(targets: Sequence[Target], examples: Sequence[Example]) -> dict[tuple[str, str], set[str]]:
    """Each target's view of each project the dataset uses, read once before the run."""
    projects = sorted({e.project_id for e in examples})
    return {(t.agent, p): await t.project_files(p) for t in targets for p in projects}


async def run_evaluation(
    examples: Sequence[Example],
    targets: Sequence[Target],
    *,
    k: int = 5,
    concurrency: int = 4,
    judge: evaluators.Judge | None = None,
    progress: ProgressCallback | bool | None = True,
) -> list[EvalRow]:
    """Every example through every target, at most ``concurrency`` answers at a time."""
    files = await project_files_of(targets, examples)
    pairs = [(target, example) for example in examples for target in targets]

    async def evaluate(pair: tuple[Target, Example]) -> EvalRow:
        target, example = pair
        answer = await target.answer(example)
        results = await score_answer(example, answer, k=k, project_files=files[(target.agent, example.project_id)], judge=judge)
        return make_row(target.agent, example, answer, results)

    outcomes = await run_batch(pairs, evaluate, max_concurrent=concurrency, progress=progress, description="Evaluating")
    rows = []
    for (target, example), outcome in zip(pairs, outcomes, strict=True):
        if isinstance(outcome, Exception):
            failed = Answer(error=failure("evaluation", outcome)["data"])
            outcome = make_row(target.agent, example, failed, evaluators.score(example, failed, k=k))
        rows.append(outcome)
    return rows

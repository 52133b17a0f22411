"""Evaluations uploaded to LangSmith as experiments, one per agent, through ``langsmith.aevaluate``.

Only with ``LANGSMITH_API_KEY`` set: then the dataset is synced to LangSmith, every answer is traced
(the graph's node and model runs nest under the experiment's run for the question) and every
score becomes feedback. Without a key this module is never used, so nothing leaves the machine.
The client is built explicitly from the environment at call time: langsmith's process-wide
client and its cached environment would not see a key set after start-up.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from routeur.evaluation import evaluators
from routeur.evaluation.dataset import Example
from routeur.evaluation.runner import EvalRow, make_row, project_files_of, score_answer
from routeur.evaluation.targets import Answer, Target

if TYPE_CHECKING:
    from langsmith import Client

EXAMPLE_NAMESPACE = uuid.UUID("5f0e2c1a-8d7b-4c1e-9a53-2b6f4d0c9e71")


def langsmith_client() -> Client | None:
    """A client when ``LANGSMITH_API_KEY`` is set (``LANGSMITH_ENDPOINT`` for a self-hosted one)."""
    key = os.environ.get("LANGSMITH_API_KEY")
    if not key:
        return None
    from langsmith import Client

    return Client(api_url=os.environ.get("LANGSMITH_ENDPOINT") or None, api_key=key)


def _inputs(example: Example) -> dict[str, Any]:
    inputs: dict[str, Any] = {"question": example.question, "project_id": example.project_id, "sources": list(example.sources)}
    if example.history:  # only when present: single-turn examples keep their content-derived ids
        inputs["history"] = list(example.history)
    return inputs


def _reference(example: Example) -> dict[str, Any]:
    return {"id": example.id, "file_ids": list(example.file_ids), "facts": list(example.facts), "reference": example.reference}


def example_uuid(dataset_name: str, example: Example) -> uuid.UUID:
    """Content-derived: syncing the same file again adds nothing; an edited question is a new example."""
    content = json.dumps([example.id, _inputs(example), _reference(example)], sort_keys=True, ensure_ascii=False)
    return uuid.uuid5(EXAMPLE_NAMESPACE, f"{dataset_name}\n{content}")


def sync_dataset(client: Client, name: str, examples: Sequence[Example]) -> list[Any]:
    """The LangSmith dataset ``name`` holding these examples (created, or completed, as needed);
    returns LangSmith's examples for exactly this file's questions, in its order."""
    from langsmith.utils import LangSmithNotFoundError

    try:
        dataset = client.read_dataset(dataset_name=name)
    except LangSmithNotFoundError:
        dataset = client.create_dataset(name, description="Routeur IA evaluation questions (routeur eval)")
    wanted = {example_uuid(name, e): e for e in examples}
    present = {e.id for e in client.list_examples(dataset_id=dataset.id, example_ids=list(wanted))}
    missing = [
        {"id": ex_id, "inputs": _inputs(e), "outputs": _reference(e), "metadata": {"example_id": e.id}}
        for ex_id, e in wanted.items()
        if ex_id not in present
    ]
    if missing:
        client.create_examples(dataset_id=dataset.id, examples=missing)
    by_id = {e.id: e for e in client.list_examples(dataset_id=dataset.id, example_ids=list(wanted))}
    return [by_id[ex_id] for ex_id in wanted]


def _answer_of(outputs: dict[str, Any] | None) -> Answer:
    outputs = outputs or {}
    return Answer(
        answer=outputs.get("answer", ""),
        sources=outputs.get("sources", []),
        metadata=outputs.get("metadata", {}),
        error=outputs.get("error"),
    )


async def run_on_langsmith(
    examples: Sequence[Example],
    targets: Sequence[Target],
    *,
    dataset_name: str,
    k: int = 5,
    concurrency: int = 4,
    judge: evaluators.Judge | None = None,
    client: Client | None = None,
) -> list[EvalRow]:
    """Each agent as a LangSmith experiment on the dataset; the same rows as ``run_evaluation``."""
    from langsmith import aevaluate, traceable

    client = client or langsmith_client()
    if client is None:
        raise RuntimeError("LangSmith is not configured: set LANGSMITH_API_KEY")
    ls_examples = sync_dataset(client, dataset_name, examples)
    ours = {str(ls.id): example for ls, example in zip(ls_examples, examples, strict=True)}
    files = await project_files_of(targets, examples)
    rows: dict[tuple[str, str], EvalRow] = {}

    for target in targets:

        @traceable(name=f"Routeur {target.agent}", run_type="chain", process_inputs=lambda given: given["inputs"])
        async def answer(inputs: dict[str, Any], target: Target = target) -> dict[str, Any]:
            result = await target.answer(Example(
                    question=inputs["question"], project_id=inputs["project_id"], sources=inputs["sources"], history=inputs.get("history", [])
                ))
            return {"answer": result.answer, "sources": result.sources, "metadata": result.metadata, "error": result.error}

        scored: dict[str, dict[str, Any]] = {}

        async def scores(run: Any, example: Any, target: Target = target, scored: dict[str, dict[str, Any]] = scored) -> dict[str, Any]:
            mine = ours[str(example.id)]
            results = await score_answer(
                mine, _answer_of(run.outputs), k=k, project_files=files[(target.agent, mine.project_id)], judge=judge
            )
            scored[str(example.id)] = results
            return {
                "results": [
                    {"key": m.key, "score": results[m.key], "comment": results.get("judge_reasoning") if m.key == "judge_score" else None}
                    for m in evaluators.METRICS
                    if results.get(m.key) is not None
                ]
            }

        experiment = await aevaluate(
            answer,
            data=ls_examples,
            evaluators=[scores],
            experiment_prefix=f"routeur-{target.agent}",
            metadata={"agent": target.agent, "k": k, "dataset": dataset_name},
            max_concurrency=concurrency,
            client=client,
        )
        async for result in experiment:
            example = ours[str(result["example"].id)]
            answer_ = _answer_of(result["run"].outputs)
            results = scored[str(result["example"].id)]
            row = make_row(target.agent, example, answer_, results)
            row.details["experiment"] = experiment.experiment_name
            rows[(target.agent, example.id)] = row
    client.flush()
    return [rows[(t.agent, e.id)] for e in examples for t in targets]

"""``routeur eval DATASET``: the agents on a dataset, in this process or against a server, with a
progress bar, a comparison table and the per-question results written to a file."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from graphs.registry import AGENTS
from nodes.models.catalog import UnknownModelError
from nodes.models.factory import ModelUnavailableError
from retrievers.base import StoreUnavailableError
from routeur.client_types import RouteurError
from routeur.pacing import RateLimitWait
from routeur.evaluation import evaluators
from routeur.evaluation.dataset import DatasetError, Example, load_dataset
from routeur.evaluation.report import summarize, summary_table, write_results
from routeur.evaluation.runner import EvalRow, run_evaluation
from routeur.evaluation.targets import GraphTarget, ServerTarget, Target
from routeur.settings import Settings, get_settings


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "eval",
        help="Evaluate agents on a JSONL dataset and compare them",
        description="Ask every question of a dataset to each agent, in this process or of a running server (--server),\n"
        "then compare retrieval (hit@k, MRR), citations, answers, abstention, latency, cost and emissions.\n"
        "Against a server, requests are paced to the server's rate limit, and the command says when it waits.",
        epilog="examples:\n  routeur eval demo/eval/questions.jsonl --ingest demo/corpus\n"
        "  routeur eval demo/eval/questions.jsonl --server http://127.0.0.1:7860 --client-id batch --client-secret ...",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dataset", type=Path, help="JSONL: question, project_id, sources, file_ids, facts, reference")
    parser.add_argument("--agents", default=",".join(AGENTS), help="Comma-separated agents (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=4, help="Answers in flight at once (default: %(default)s)")
    parser.add_argument("--server", metavar="URL", help="Evaluate a running server instead of the graphs in this process")
    parser.add_argument("--token", help="Server: a bearer token (default: one from /auth/token)")
    parser.add_argument("--client-id", help="Server: client credentials for /auth/token")
    parser.add_argument("--client-secret", help="Server: client credentials for /auth/token")
    parser.add_argument("--model", help="Chat model of the agents (default: settings)")
    parser.add_argument("--top-k", type=int, default=None, help="Passages per search, and the k of hit@k (default: settings)")
    parser.add_argument("--judge", help="LLM judge model, or 'none' (default: ROUTEUR_EVAL_JUDGE_MODEL, else a configured provider's)")
    parser.add_argument(
        "--ingest", type=Path, nargs="+", metavar="PATH", help="Ingest these files or folders into the dataset's projects first"
    )
    parser.add_argument("--output", type=Path, default=Path("eval-results.jsonl"), help="Per-question results (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="No progress bar")
    parser.add_argument("--no-langsmith", action="store_true", help="Stay local even when LANGSMITH_API_KEY is set")


def parse_agents(value: str) -> list[str]:
    names = [a.strip() for a in value.split(",") if a.strip()]
    unknown = [a for a in names if a not in AGENTS]
    if unknown or not names:
        raise ValueError(f"Unknown agent(s) {', '.join(unknown) or '(none given)'}. Valid agents: {', '.join(AGENTS)}")
    return list(dict.fromkeys(names))


def make_judge(name: str | None, settings: Settings) -> evaluators.Judge | None:
    if name is not None and name.lower() == "none":
        return None
    model = name or evaluators.default_judge_model(settings)
    from nodes.models.factory import ModelRegistry

    return evaluators.Judge(model, ModelRegistry(settings)) if model else None


@asynccontextmanager
async def open_targets(
    args: argparse.Namespace, agents: Sequence[str], examples: Sequence[Example], settings: Settings
) -> AsyncIterator[list[Target]]:
    """The agents to evaluate, with the dataset's projects ingested first when asked."""
    projects = sorted({e.project_id for e in examples})
    top_k = args.top_k or settings.top_k
    if args.server:
        from routeur.client import AsyncRouteurClient

        notice = RateLimitNotice(with_credentials=bool(args.client_id))
        async with AsyncRouteurClient(
            args.server, token=args.token, client_id=args.client_id, client_secret=args.client_secret, on_rate_limit=notice
        ) as client:
            for project in projects if args.ingest else ():
                await client.upload_documents(project, expand(args.ingest))
            try:
                yield [ServerTarget(agent, client, model=args.model, top_k=top_k) for agent in agents]
            finally:
                if client.pacer is not None and client.pacer.waited_s > 0:
                    notice.summary(client.pacer.waited_s)
        return

    import asyncio

    from retrievers import build_store
    from retrievers.ingestion import ingest_paths

    store = await asyncio.to_thread(build_store, settings)
    try:
        for project in projects if args.ingest else ():
            await ingest_paths(store, args.ingest, project_id=project, progress=not args.no_progress)
        yield [GraphTarget(agent, store=store, settings=settings, model=args.model, top_k=top_k) for agent in agents]
    finally:
        store.close()


class RateLimitNotice:
    """Says once, when the server's rate limit first makes the evaluation wait, which limit it
    is and how to lift it; ``summary`` gives the total wait at the end."""

    def __init__(self, *, with_credentials: bool, stream: Any = None):
        self.with_credentials = with_credentials
        self.stream = stream or sys.stderr
        self.last: RateLimitWait | None = None

    def __call__(self, wait: RateLimitWait) -> None:
        first = self.last is None
        self.last = wait
        if first:
            print(f"routeur eval: {self._limit(wait)}: waiting {wait.seconds:.0f} s for the next window. {self.advice()}", file=self.stream)

    @staticmethod
    def _limit(wait: RateLimitWait) -> str:
        window = f"{wait.window_s:.0f} s" if wait.window_s else "window"
        return f"the server allows this client {wait.limit} chat/completion requests per {window}"

    def advice(self) -> str:
        server = "raise ROUTEUR_RATE_LIMIT_PER_MINUTE on the server"
        client = 'or give a client its own "rate_limit_per_minute" in the server\'s ROUTEUR_CLIENTS'
        return f"To go faster, {server}, {client}" + ("." if self.with_credentials else " and pass --client-id/--client-secret.")

    def summary(self, waited_s: float) -> None:
        limit = self._limit(self.last) if self.last is not None else "the server's rate limit"
        print(f"routeur eval: waited {waited_s:.0f} s in all because {limit}. {self.advice()}", file=self.stream)


def expand(paths: Sequence[Path]) -> list[Path]:
    from retrievers.ingestion import expand_paths

    return [path for path, _ in expand_paths(paths)]


async def evaluate(args: argparse.Namespace) -> int:
    settings = get_settings()
    try:
        examples = load_dataset(args.dataset)
        agents = parse_agents(args.agents)
        if args.concurrency < 1:
            raise ValueError("--concurrency must be at least 1")
        judge = make_judge(args.judge, settings)
    except (DatasetError, ValueError, KeyError, ModelUnavailableError) as exc:
        print(f"routeur eval: {exc}", file=sys.stderr)
        return 2
    top_k = args.top_k or settings.top_k
    try:
        async with open_targets(args, agents, examples, settings) as targets:
            rows = await run(args, examples, targets, top_k=top_k, judge=judge)
    except (RouteurError, StoreUnavailableError, ModelUnavailableError, UnknownModelError) as exc:
        # The server, the store or the model cannot serve at all: say so, not one failure per question.
        print(f"routeur eval: {exc}", file=sys.stderr)
        return 1
    print(summary_table(summarize(rows), k=top_k))
    path = write_results(rows, args.output)
    failed = sum(r.error is not None for r in rows)
    print(f"\n{len(rows)} answers ({len(examples)} questions × {len(agents)} agents), {failed} failed; results in {path}")
    return 1 if failed == len(rows) else 0


async def run(
    args: argparse.Namespace, examples: Sequence[Example], targets: Sequence[Target], *, top_k: int, judge: evaluators.Judge | None
) -> list[EvalRow]:
    """Locally, or as LangSmith experiments when ``LANGSMITH_API_KEY`` is set (and not refused)."""
    from routeur.evaluation.experiments import langsmith_client, run_on_langsmith

    client = None if args.no_langsmith else langsmith_client()
    if client is None:
        return await run_evaluation(examples, targets, k=top_k, concurrency=args.concurrency, judge=judge, progress=not args.no_progress)
    rows = await run_on_langsmith(
        examples, targets, dataset_name=f"routeur-{args.dataset.stem}", k=top_k, concurrency=args.concurrency, judge=judge, client=client
    )
    experiments = ", ".join(dict.fromkeys(r.details["experiment"] for r in rows))
    print(f"LangSmith experiments: {experiments} (dataset routeur-{args.dataset.stem})", file=sys.stderr)
    return rows

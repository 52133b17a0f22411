"""Completed streamed V2 runs per second, and their p95 latency, with 1, 10, 50 and 200
concurrent clients. Two modes:

- paced (default): our ``/api/v1/chat/stream`` against the same graph served by ``langgraph dev``
  (``--n-jobs-per-worker`` raised to the highest concurrency, so it is not handicapped), with a
  paced fake model and one question: the serving layers alone. Target: ours ≥ 5× langgraph dev.
- ``--offline``: what a user runs with no provider key: the demo corpus (or python-docs-fr with
  ``--python-docs-fr``) embedded by the real local model, the ``local-extractive`` model, the
  corpus's evaluation questions in turn. The graph in-process (no HTTP, measured as the API
  measures it), ours over HTTP and ``langgraph dev``, side by side; then the CPU a turn costs, by
  phase, from sequential in-process runs (process CPU around each node), and each server's CPU
  per turn from sequential runs over HTTP: serving = ours over HTTP − in-process. Targets: ours
  ≥ 0.9× in-process and ≥ 3× langgraph dev at 50 clients; CPU per turn ≤ 15 ms.

    python -m benchmarks.bench_throughput [--levels 1,10,50,200] [--tokens 20] [--delay-ms 0]
    python -m benchmarks.bench_throughput --offline [--python-docs-fr [PATH]] [--data-dir DIR]
        [--levels 1,10,50,200] [--runs-per-client 2] [--min-runs 20] [--profile-runs 30] [--distinct-queries]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import aconnect_sse
from langchain_core.callbacks import BaseCallbackHandler
from langgraph_sdk import get_client

from benchmarks.common import (
    QUESTION,
    langgraph_dev_events,
    paced_models_file,
    percentile,
    prepared_data_dir,
    print_table,
    process_cpu_seconds,
    start_langgraph_dev,
    start_ours,
)
from routeur.settings import Settings
from tests.support.api_support import ROOT

Run = Callable[[str], Awaitable[bool]]
"""One streamed run of a question; whether it ended with ``done``."""

OFFLINE_MODEL = "local-extractive"
PHASES = {"intent_analysis": "intent", "search": "search", "evaluation": "evaluation", "rewrite": "rewrite", "generation": "generation"}
PYTHON_DOCS_FR = ROOT.parent / "shared" / "corpora" / "python-docs-fr"


@dataclass
class Level:
    rate: float
    p95: float
    failures: int


async def measure(concurrency: int, total: int, one_run: Run, questions: list[str]) -> Level:
    """Runs per second with ``concurrency`` clients sharing ``total`` runs (the questions in
    turn), the runs' p95 latency, and the failures."""
    remaining = total
    failures = 0
    latencies: list[float] = []

    async def client() -> None:
        nonlocal remaining, failures
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            failures += not await one_run(questions[remaining % len(questions)])
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return Level(total / (time.perf_counter() - started), percentile(latencies, 95), failures)


def ours_run(http: httpx.AsyncClient, model: str) -> Run:
    async def run(question: str) -> bool:
        async with aconnect_sse(http, "POST", "/api/v1/chat/stream", data={"message": question, "model": model}) as source:
            names = [sse.event async for sse in source.aiter_sse()]
        return names[-1] == "done"

    return run


def langgraph_run(url: str, model: str) -> Run:
    client = get_client(url=url, timeout=300)

    async def run(question: str) -> bool:
        last = None
        async for event in langgraph_dev_events(client, question, model):
            last = event.get("event")
        return last == "done"

    return run


class PhaseClock(BaseCallbackHandler):
    """Process CPU (every thread: embedding and store work in workers too) spent inside each graph
    node, summed over runs. Inline, so the clock reads happen where the node starts and ends."""

    run_inline = True

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._open: dict[Any, tuple[str, float]] = {}

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: Any, metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        node = (metadata or {}).get("langgraph_node")
        if node in PHASES and kwargs.get("name") == node and all(open_node != node for open_node, _ in self._open.values()):
            self._open[run_id] = (node, time.process_time())

    def on_chain_end(self, outputs: Any, *, run_id: Any, **kwargs: Any) -> None:
        if (opened := self._open.pop(run_id, None)) is not None:
            self.cpu[opened[0]] += time.process_time() - opened[1]
            self.calls[opened[0]] += 1

    on_chain_error = on_chain_end


class InProcess:
    """The V2 graph on this process's store, run as the API runs it (``measured_events``)."""

    def __init__(self, settings: Settings, model: str):
        from graphs.dependencies import RunDependencies
        from graphs.registry import get_agent

        self.settings = settings
        self.model = model
        self.dependencies = RunDependencies.from_settings(settings)
        self.agent = get_agent("V2")
        self.graph = self.agent.build(None)

    def close(self) -> None:
        self.dependencies.store.close()

    def _context(self) -> Any:
        from graphs.context import AgentContext

        return AgentContext.from_settings(self.settings, project_id="default", model=self.model)

    async def run(self, question: str) -> bool:
        from graphs.streaming import measured_events, user_turn

        last = None
        async for event, _ in measured_events(self.graph, user_turn(question), agent=self.agent, context=self._context(), dependencies=self.dependencies):
            last = event["event"]
        return last == "done"

    async def profile(self, questions: list[str], runs: int) -> tuple[PhaseClock, float]:
        """``runs`` sequential turns, each measured like ``measured_events`` plus the phase clock:
        the clock and the process CPU seconds per turn."""
        from graphs.registry import run_config
        from graphs.streaming import stream_events, user_turn
        from nodes.models.metrics import AnswerMetrics

        clock = PhaseClock()
        started = time.process_time()
        for index in range(runs):
            context = self._context()
            metrics = AnswerMetrics(electricity_mix_zone=self.settings.electricity_mix_zone, catalog=self.dependencies.models.catalog)
            config = run_config(self.agent, context.max_search_rounds, callbacks=[metrics.collector, clock], dependencies=self.dependencies)
            async for event in stream_events(self.graph, user_turn(questions[index % len(questions)]), context=context, config=config):
                if event["event"] == "chunk":
                    metrics.mark_first_token()
                elif event["event"] == "done":
                    metrics.finish()
                elif event["event"] == "error":
                    raise RuntimeError(event["data"])
        return clock, (time.process_time() - started) / runs


async def server_cpu_per_turn(pid: int, one_run: Run, questions: list[str], runs: int) -> float:
    """A server's CPU seconds per turn over ``runs`` sequential turns."""
    before = process_cpu_seconds(pid)
    for index in range(runs):
        if not await one_run(questions[index % len(questions)]):
            raise RuntimeError("a profiled run failed")
    return (process_cpu_seconds(pid) - before) / runs


class DistinctQuestions(list[str]):
    """The questions in turn, each use made a new text by a run number: no query repeats, so
    no cache of query vectors helps (user traffic, not a benchmark's 17 questions in a loop)."""

    def __init__(self, questions: list[str]):
        super().__init__(questions)
        self._uses = 0

    def __getitem__(self, index):  # type: ignore[override]
        self._uses += 1
        return f"{super().__getitem__(index)} ({self._uses})"


def run_counts(levels: list[int], args: argparse.Namespace) -> dict[int, int]:
    return {level: max(args.runs_per_client * level, args.min_runs) for level in levels}


def offline(args: argparse.Namespace, levels: list[int]) -> None:
    corpus = args.python_docs_fr
    questions_file = ROOT / ("datasets/python-docs-fr/questions.jsonl" if corpus else "demo/eval/questions.jsonl")
    from routeur.evaluation.dataset import load_dataset

    questions = [e.question for e in load_dataset(questions_file) if not e.history and e.project_id == "default"]
    if args.distinct_queries:
        questions = DistinctQuestions(questions)
    settings = prepared_data_dir(Path(corpus) if corpus else None, args.data_dir)
    models_file = paced_models_file(settings.data_dir, 1, 0.0)  # declared, unused: the model is built in
    counts = run_counts(levels, args)
    rates: dict[str, dict[int, Level]] = {"in-process": {}, "ours": {}, "langgraph dev": {}}
    server_cpu: dict[str, float] = {}

    ours = start_ours(settings.data_dir, models_file)
    try:
        limits = httpx.Limits(max_connections=max(levels) + 10, max_keepalive_connections=max(levels) + 10)

        async def ours_levels() -> None:
            async with httpx.AsyncClient(base_url=ours.url, headers=ours.token(), timeout=300, limits=limits) as http:
                run = ours_run(http, OFFLINE_MODEL)
                await measure(2, 6, run, questions)  # warm-up: the embedding model loads
                server_cpu["ours"] = await server_cpu_per_turn(ours.process.pid, run, questions, args.profile_runs)
                for level in levels:
                    rates["ours"][level] = await measure(level, counts[level], run, questions)

        asyncio.run(ours_levels())
    finally:
        ours.stop()

    dev = start_langgraph_dev(settings.data_dir, models_file, n_jobs=max(levels))
    try:

        async def dev_levels() -> None:
            run = langgraph_run(dev.url, OFFLINE_MODEL)
            await measure(2, 6, run, questions)
            server_cpu["langgraph dev"] = await server_cpu_per_turn(dev.process.pid, run, questions, args.profile_runs)
            for level in levels:
                rates["langgraph dev"][level] = await measure(level, counts[level], run, questions)

        asyncio.run(dev_levels())
    finally:
        dev.stop()

    local = InProcess(settings, OFFLINE_MODEL)  # the embedded store's path is free again
    try:

        async def local_levels() -> tuple[PhaseClock, float]:
            await measure(2, 6, local.run, questions)
            profiled = await local.profile(questions, args.profile_runs)
            for level in levels:
                rates["in-process"][level] = await measure(level, counts[level], local.run, questions)
            return profiled

        clock, local_cpu = asyncio.run(local_levels())
    finally:
        local.close()

    name = ("python-docs-fr" if corpus else "demo corpus") + (", distinct queries" if args.distinct_queries else "")
    rows = []
    for level in levels:
        here, ours_level, dev_level = rates["in-process"][level], rates["ours"][level], rates["langgraph dev"][level]
        rows.append([
            str(level), str(counts[level]),
            f"{here.rate:.1f}", f"{here.p95 * 1000:.0f}",
            f"{ours_level.rate:.1f}", f"{ours_level.p95 * 1000:.0f}",
            f"{dev_level.rate:.1f}", f"{dev_level.p95 * 1000:.0f}",
            f"{ours_level.rate / here.rate:.2f}x", f"{ours_level.rate / dev_level.rate:.2f}x",
            f"{here.failures}/{ours_level.failures}/{dev_level.failures}",
        ])  # fmt: skip
    print_table(
        f"Throughput, completed streamed V2 runs per second and p95 latency (ms), offline stack: {name}, "
        f"local embeddings, {OFFLINE_MODEL}, {len(questions)} questions in turn",
        ["clients", "runs", "in-process", "p95", "ours HTTP", "p95", "langgraph dev", "p95", "ours/in-process", "ours/dev", "failed (in/ours/dev)"],
        rows,
    )
    print("targets at 50 clients: ours/in-process ≥ 0.9x, ours/dev ≥ 3x")

    runs = args.profile_runs
    cpu_rows = [
        [label, f"{clock.cpu[node] * 1000 / runs:.1f}", f"{clock.calls[node] / runs:.2f}"] for node, label in PHASES.items()
    ]
    between = local_cpu - sum(clock.cpu.values()) / runs
    cpu_rows += [
        ["graph and streaming, between nodes", f"{between * 1000:.1f}", ""],
        ["= in-process turn", f"{local_cpu * 1000:.1f}", ""],
        ["serving (ours over HTTP − in-process)", f"{(server_cpu['ours'] - local_cpu) * 1000:.1f}", ""],
        ["= ours over HTTP, server process", f"{server_cpu['ours'] * 1000:.1f}", ""],
        ["langgraph dev, server process", f"{server_cpu['langgraph dev'] * 1000:.1f}", ""],
    ]
    print_table(f"CPU per turn (ms), {runs} sequential turns each", ["phase", "CPU ms per turn", "calls per turn"], cpu_rows)
    print("target: CPU per turn ≤ 15 ms (generation, the model's own work, apart)")


def paced(args: argparse.Namespace, levels: list[int]) -> None:
    settings = prepared_data_dir()
    models_file = paced_models_file(settings.data_dir, args.tokens, args.delay_ms / 1000)
    rates: dict[str, dict[int, Level]] = {"ours": {}, "langgraph dev": {}}

    ours = start_ours(settings.data_dir, models_file)
    try:
        limits = httpx.Limits(max_connections=max(levels) + 10, max_keepalive_connections=max(levels) + 10)

        async def ours_levels() -> None:
            async with httpx.AsyncClient(base_url=ours.url, headers=ours.token(), timeout=300, limits=limits) as http:
                run = ours_run(http, "paced")
                await measure(2, 4, run, [QUESTION])  # warm-up
                for level in levels:
                    rates["ours"][level] = await measure(level, max(4 * level, 40), run, [QUESTION])

        asyncio.run(ours_levels())
    finally:
        ours.stop()
    dev = start_langgraph_dev(settings.data_dir, models_file, n_jobs=max(levels))
    try:

        async def dev_levels() -> None:
            run = langgraph_run(dev.url, "paced")
            await measure(2, 4, run, [QUESTION])
            for level in levels:
                rates["langgraph dev"][level] = await measure(level, max(2 * level, 20), run, [QUESTION])

        asyncio.run(dev_levels())
    finally:
        dev.stop()

    rows = []
    for level in levels:
        ours_level, dev_level = rates["ours"][level], rates["langgraph dev"][level]
        rows.append([
            str(level), f"{ours_level.rate:.1f}", f"{ours_level.p95 * 1000:.0f}", f"{dev_level.rate:.1f}", f"{dev_level.p95 * 1000:.0f}",
            f"{ours_level.rate / dev_level.rate:.1f}x", f"{ours_level.failures}/{dev_level.failures}",
        ])  # fmt: skip
    print_table(
        f"Throughput, completed streamed V2 runs per second and p95 latency (ms) (paced model {args.tokens} tokens x {args.delay_ms} ms)",
        ["concurrent clients", "ours", "p95", "langgraph dev", "p95", "ratio", "failed (ours/dev)"],
        rows,
    )
    print("target: ratio ≥ 5x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,10,50,200", help="concurrent clients, comma-separated")
    parser.add_argument("--tokens", type=int, default=20, help="paced mode: tokens per answer")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="paced mode: delay between tokens")
    parser.add_argument("--offline", action="store_true", help="the offline stack: real embeddings, local-extractive, a corpus")
    parser.add_argument(
        "--python-docs-fr", nargs="?", const=str(PYTHON_DOCS_FR), default=None, metavar="PATH",
        help=f"offline: this corpus and its development set instead of the demo (default path {PYTHON_DOCS_FR})",
    )  # fmt: skip
    parser.add_argument("--data-dir", type=Path, help="offline: reuse this data dir's store if it exists, else ingest into it")
    parser.add_argument("--distinct-queries", action="store_true", help="offline: never repeat a query text (no query-vector cache hits)")
    parser.add_argument("--runs-per-client", type=int, default=2, help="offline: runs per client at each level")
    parser.add_argument("--min-runs", type=int, default=20, help="offline: at least this many runs per level")
    parser.add_argument("--profile-runs", type=int, default=30, help="offline: sequential turns measured for CPU per turn")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    (offline if args.offline else paced)(args, levels)


if __name__ == "__main__":
    main()

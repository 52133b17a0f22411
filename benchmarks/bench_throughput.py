"""Completed streamed V2 runs per second, and their p95 latency, with 1, 10, 50 and 200
concurrent clients. Every system compared is up at once, each on its own copy of the data dir (an
embedded store is one process per path), and measured in rounds: in each round every system runs
the level once, back to back, in an order rotated from round to round. A system's rate is the
median over rounds, its p95 is over all its runs, and a ratio between two systems is the median
of their per-round ratios (min–max beside it): on a shared machine whose load drifts, two systems
measured minutes apart would compare the load as much as the systems. Each server's idle CPU is
read after the warm-up and after the rounds, to show that a system waiting its turn takes no CPU
from the one measured. Two modes:

- paced (default): our ``/api/v1/chat/stream`` against the same graph served by ``langgraph dev``
  (``--n-jobs-per-worker`` raised to the highest concurrency, so it is not handicapped), with a
  paced fake model and one question: the serving layers alone. Target: ours ≥ 5× langgraph dev.
- ``--offline``: what a user runs with no provider key: the demo corpus (or python-docs-fr with
  ``--python-docs-fr``) embedded by the real local model, the ``local-extractive`` model, the
  corpus's evaluation questions in turn. The graph in-process (no HTTP, measured as the API
  measures it), the same graph on the service's session checkpointer (a new thread per run: what
  session persistence costs apart from HTTP), ours over HTTP and ``langgraph dev``; then the CPU a
  turn costs, by phase, from sequential in-process runs (process CPU around each node), and each
  server's CPU per turn from sequential runs over HTTP: serving = ours over HTTP − in-process.
  Targets: ours ≥ 0.9× the stateless in-process graph and ≥ 3× langgraph dev at 50 clients; CPU
  per turn ≤ 15 ms.

    python -m benchmarks.bench_throughput [--levels 1,10,50,200] [--rounds 3] [--tokens 20] [--delay-ms 0]
    python -m benchmarks.bench_throughput --offline [--python-docs-fr [PATH]] [--data-dir DIR]
        [--levels 1,10,50,200] [--rounds 3] [--runs-per-client 4] [--min-runs 20] [--profile-runs 30] [--distinct-queries]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from routeur.heap import frozen_start_up
from routeur.settings import Settings
from tests.support.api_support import ROOT, LanggraphDevProcess, ServerProcess

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver

    from graphs.dependencies import RunDependencies

Run = Callable[[str], Awaitable[bool]]
"""One streamed run of a question; whether it ended with ``done``."""

OFFLINE_MODEL = "local-extractive"
PHASES = {"intent_analysis": "intent", "search": "search", "evaluation": "evaluation", "rewrite": "rewrite", "generation": "generation"}
PYTHON_DOCS_FR = ROOT.parent / "shared" / "corpora" / "python-docs-fr"
IN_PROCESS, IN_SESSIONS, OURS, DEV = "in-process", "in-process + sessions", "ours HTTP", "langgraph dev"
IDLE_SECONDS = 5.0
IDLE_BUSY_MS = 20.0
"""CPU ms per idle second above which a waiting system is flagged: it would slow the one measured."""
SERVER_FILES = shutil.ignore_patterns(
    ".jwt_secret", "sessions.sqlite*", "conversations.sqlite*", "uploads.sqlite*", "jobs", "*.log", ".langgraph_api"
)
"""What a data dir's copy leaves out: one server's secret, sessions, jobs and logs, not the store."""


@dataclass
class Level:
    """One measured batch: ``total`` runs shared by ``concurrency`` clients."""

    rate: float
    latencies: list[float]
    failures: int

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 95)


@dataclass(frozen=True)
class Ratio:
    median: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.median:.2f}x ({self.low:.2f}–{self.high:.2f})"


def round_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> Ratio:
    """Two systems' rates measured in the same rounds, compared round by round: a load change
    between rounds moves both sides of a round's ratio together. The median of the ratios, with
    their min and max to show the spread."""
    if not numerators or len(numerators) != len(denominators):
        raise ValueError(f"one rate per round on each side, got {len(numerators)} and {len(denominators)}")
    ratios = [n / d for n, d in zip(numerators, denominators, strict=True)]
    return Ratio(statistics.median(ratios), min(ratios), max(ratios))


def rotated(names: Sequence[str], round_index: int) -> list[str]:
    """The measuring order of a round: shifted by one each round, so no system always goes first
    (or always runs right after the heaviest one)."""
    shift = round_index % len(names)
    return [*names[shift:], *names[:shift]]


@dataclass
class System:
    name: str
    run: Run
    pid: int | None = None
    """Its server process, read by ``/proc``; ``None`` for this process (the in-process graphs)."""


@dataclass
class Rounds:
    """Each system's measured batches, by level, in round order."""

    levels: dict[str, dict[int, list[Level]]] = field(default_factory=lambda: defaultdict(dict))

    def rates(self, name: str, level: int) -> list[float]:
        return [batch.rate for batch in self.levels[name][level]]

    def median_rate(self, name: str, level: int) -> float:
        return statistics.median(self.rates(name, level))

    def p95(self, name: str, level: int) -> float:
        return percentile([latency for batch in self.levels[name][level] for latency in batch.latencies], 95)

    def failures(self, name: str, level: int) -> int:
        return sum(batch.failures for batch in self.levels[name][level])

    def ratio(self, numerator: str, denominator: str, level: int) -> Ratio:
        return round_ratios(self.rates(numerator, level), self.rates(denominator, level))


async def measure(concurrency: int, total: int, one_run: Run, questions: Sequence[str]) -> Level:
    """Runs per second with ``concurrency`` clients sharing ``total`` runs (the questions in
    turn), the runs' latencies, and the failures."""
    remaining = total
    failures = 0
    latencies: list[float] = []

    async def client() -> None:
        nonlocal remaining, failures
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            # Awaited before the sum: ``failures += not await ...`` reads the count before the run
            # and loses the failures other clients add meanwhile.
            succeeded = await one_run(questions[remaining % len(questions)])
            latencies.append(time.perf_counter() - started)
            failures += not succeeded

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return Level(total / (time.perf_counter() - started), latencies, failures)


async def measure_rounds(
    systems: Sequence[System], levels: Sequence[int], counts: dict[int, int], questions: Sequence[str], rounds: int
) -> Rounds:
    """Every level, ``rounds`` times; in each round every system back to back, in rotated order."""
    measured = Rounds()
    names = [system.name for system in systems]
    by_name = {system.name: system for system in systems}
    for level in levels:
        for round_index in range(rounds):
            done = []
            for name in rotated(names, round_index):
                batch = await measure(level, counts[level], by_name[name].run, questions)
                measured.levels[name].setdefault(level, []).append(batch)
                done.append(f"{name} {batch.rate:.1f}/s")
            print(f"  {level} clients, round {round_index + 1}/{rounds}: " + ", ".join(done), file=sys.stderr, flush=True)
    return measured


async def warm_up(systems: Sequence[System], questions: Sequence[str]) -> None:
    """A few runs each: models load, the ONNX query encoder is exported, caches and pools fill."""
    for system in systems:
        await measure(2, 6, system.run, questions)


async def idle_cpu(systems: Sequence[System], seconds: float = IDLE_SECONDS) -> dict[str, float]:
    """CPU ms per second each system's process spends while nothing is asked of it. The systems
    in this process share one reading (``time.process_time``: its threads, not its children)."""

    def reading(system: System) -> float:
        return time.process_time() if system.pid is None else process_cpu_seconds(system.pid)

    before = {system.name: reading(system) for system in systems}
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - started
    return {system.name: (reading(system) - before[system.name]) * 1000 / elapsed for system in systems}


def print_idle(systems: Sequence[System], readings: dict[str, dict[str, float]]) -> None:
    rows = []
    for system in systems:
        figures = [readings[moment][system.name] for moment in readings]
        process = "this process" if system.pid is None else f"pid {system.pid}"
        flag = "BUSY while idle" if max(figures) > IDLE_BUSY_MS else "ok"
        rows.append([system.name, process, *(f"{figure:.1f}" for figure in figures), flag])
    print_table(
        f"Idle CPU, ms per second over {IDLE_SECONDS:.0f} s with nothing asked (flagged above {IDLE_BUSY_MS:.0f})",
        ["system", "process", *readings, ""],
        rows,
    )


def print_rounds(
    title: str,
    measured: Rounds,
    systems: Sequence[System],
    levels: Sequence[int],
    counts: dict[int, int],
    rounds: int,
    ratios: Sequence[tuple[str, str]],
) -> None:
    names = [system.name for system in systems]
    rows = [
        [str(level), f"{counts[level]} x {rounds}"]
        + [f"{measured.median_rate(name, level):.1f} ({measured.p95(name, level) * 1000:.0f})" for name in names]
        + ["/".join(str(measured.failures(name, level)) for name in names)]
        for level in levels
    ]
    print_table(
        f"{title}; runs/s, median of {rounds} rounds (p95 ms over all runs)",
        ["clients", "runs x rounds", *names, "failed, same order"],
        rows,
    )
    print_table(
        f"Ratios, median of the {rounds} per-round ratios (min–max)",
        ["clients", *(f"{numerator} / {denominator}" for numerator, denominator in ratios)],
        [[str(level), *(str(measured.ratio(numerator, denominator, level)) for numerator, denominator in ratios)] for level in levels],
    )


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


def data_dir_copy(data_dir: Path, suffix: str) -> Path:
    """A sibling copy of a prepared data dir (its store and exported models), for one more
    process: an embedded store is one process per path. A stale copy is replaced."""
    copy = data_dir.with_name(f"{data_dir.name}-{suffix}")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(data_dir, copy, ignore=SERVER_FILES)
    return copy


@asynccontextmanager
async def ours_client(url: str, headers: dict[str, str], levels: Sequence[int]) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=max(levels) + 10, max_keepalive_connections=max(levels) + 10)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=300, limits=limits) as http:
        yield http


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
    """The V2 graph on this process's store, run as the API runs it (``measured_events``).
    Stateless, or on a session ``checkpointer`` with a new thread per run, as a new session on
    ``/api/v1/chat/stream``; ``dependencies`` (the store, the models) may be another's."""

    def __init__(
        self,
        settings: Settings,
        model: str,
        *,
        dependencies: RunDependencies | None = None,
        checkpointer: BaseCheckpointSaver | None = None,
    ):
        from graphs.dependencies import RunDependencies
        from graphs.registry import get_agent

        self.settings = settings
        self.model = model
        self.dependencies = dependencies or RunDependencies.from_settings(settings)
        self.agent = get_agent("V2")
        self.graph = self.agent.build(checkpointer)
        self.in_sessions = checkpointer is not None

    def _context(self) -> Any:
        from graphs.context import AgentContext

        return AgentContext.from_settings(self.settings, project_id="default", model=self.model)

    async def run(self, question: str) -> bool:
        from graphs.streaming import measured_events, user_turn

        last = None
        thread = uuid.uuid4().hex if self.in_sessions else None
        events = measured_events(
            self.graph, user_turn(question), agent=self.agent, context=self._context(), dependencies=self.dependencies, thread_id=thread
        )
        async for event, _ in events:
            last = event["event"]
        return last == "done"

    async def profile(self, questions: Sequence[str], runs: int) -> tuple[PhaseClock, float]:
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


async def server_cpu_per_turn(pid: int, one_run: Run, questions: Sequence[str], runs: int) -> tuple[float, float]:
    """A server's CPU seconds per turn over ``runs`` sequential turns, and this process's: the
    client's (with two cores, what the client spends is not there for the server)."""
    before, client_before = process_cpu_seconds(pid), time.process_time()
    for index in range(runs):
        if not await one_run(questions[index % len(questions)]):
            raise RuntimeError("a profiled run failed")
    return (process_cpu_seconds(pid) - before) / runs, (time.process_time() - client_before) / runs


class DistinctQuestions(list[str]):
    """The questions in turn, each use made a new text by a run number: no query repeats, so
    no cache of query vectors helps (user traffic, not a benchmark's 17 questions in a loop)."""

    def __init__(self, questions: list[str]):
        super().__init__(questions)
        self._uses = 0

    def __getitem__(self, index):  # type: ignore[override]
        self._uses += 1
        return f"{super().__getitem__(index)} ({self._uses})"


def run_counts(levels: Sequence[int], args: argparse.Namespace) -> dict[int, int]:
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
    copies = {name: data_dir_copy(settings.data_dir, name) for name in ("langgraph-dev", "in-process")}
    try:
        with ExitStack() as servers:
            ours = start_ours(settings.data_dir, models_file)
            servers.callback(ours.stop)
            dev = start_langgraph_dev(copies["langgraph-dev"], models_file, n_jobs=max(levels))
            servers.callback(dev.stop)
            asyncio.run(offline_rounds(args, levels, counts, questions, ours, dev, Settings(_env_file=None, data_dir=copies["in-process"])))
    finally:
        for copy in copies.values():
            shutil.rmtree(copy, ignore_errors=True)


async def offline_rounds(
    args: argparse.Namespace,
    levels: list[int],
    counts: dict[int, int],
    questions: Sequence[str],
    ours: ServerProcess,
    dev: LanggraphDevProcess,
    local_settings: Settings,
) -> None:
    from api.sessions import open_checkpointer  # the service's own session store, as it runs it

    local = InProcess(local_settings, OFFLINE_MODEL)
    try:
        async with AsyncExitStack() as stack:
            checkpointer = await stack.enter_async_context(open_checkpointer(local_settings))
            http = await stack.enter_async_context(ours_client(ours.url, ours.token(), levels))
            in_sessions = InProcess(local_settings, OFFLINE_MODEL, dependencies=local.dependencies, checkpointer=checkpointer)
            systems = [
                System(IN_PROCESS, local.run),
                System(IN_SESSIONS, in_sessions.run),
                System(OURS, ours_run(http, OFFLINE_MODEL), ours.process.pid),
                System(DEV, langgraph_run(dev.url, OFFLINE_MODEL), dev.process.pid),
            ]
            await warm_up(systems, questions)
            stack.enter_context(frozen_start_up())  # as the server does once started: the in-process graphs are not charged a GC it does not pay
            idle = {"after warm-up": await idle_cpu(systems)}
            clock, local_cpu = await local.profile(questions, args.profile_runs)
            per_turn = {
                system.name: await server_cpu_per_turn(system.pid, system.run, questions, args.profile_runs) for system in systems[2:]
            }
            server_cpu = {name: server for name, (server, _) in per_turn.items()}
            client_cpu = {name: client for name, (_, client) in per_turn.items()}
            measured = await measure_rounds(systems, levels, counts, questions, args.rounds)
            idle["after the rounds"] = await idle_cpu(systems)
    finally:
        local.dependencies.store.close()

    name = ("python-docs-fr" if args.python_docs_fr else "demo corpus") + (", distinct queries" if args.distinct_queries else "")
    print_idle(systems, idle)
    print_rounds(
        f"Throughput, completed streamed V2 runs, offline stack: {name}, local embeddings, {OFFLINE_MODEL}, {len(questions)} questions in turn",
        measured, systems, levels, counts, args.rounds,
        [(OURS, IN_PROCESS), (OURS, IN_SESSIONS), (IN_SESSIONS, IN_PROCESS), (OURS, DEV)],
    )  # fmt: skip
    print(
        f"targets at 50 clients: {OURS} / {IN_PROCESS} ≥ 0.9x (the stateless graph is the reference; {IN_SESSIONS}"
        f" is the same graph on the service's SQLite session checkpointer, a new thread per run), {OURS} / {DEV} ≥ 3x"
    )

    runs = args.profile_runs
    cpu_rows = [[label, f"{clock.cpu[node] * 1000 / runs:.1f}", f"{clock.calls[node] / runs:.2f}"] for node, label in PHASES.items()]
    between = local_cpu - sum(clock.cpu.values()) / runs
    cpu_rows += [
        ["graph and streaming, between nodes", f"{between * 1000:.1f}", ""],
        ["= in-process turn", f"{local_cpu * 1000:.1f}", ""],
        ["serving (ours over HTTP − in-process)", f"{(server_cpu[OURS] - local_cpu) * 1000:.1f}", ""],
        ["= ours over HTTP, server process", f"{server_cpu[OURS] * 1000:.1f}", ""],
        ["langgraph dev, server process", f"{server_cpu[DEV] * 1000:.1f}", ""],
        ["ours over HTTP, the benchmark's client", f"{client_cpu[OURS] * 1000:.1f}", ""],
        ["langgraph dev, the benchmark's client (SDK)", f"{client_cpu[DEV] * 1000:.1f}", ""],
    ]
    print_table(f"CPU per turn (ms), {runs} sequential turns each", ["phase", "CPU ms per turn", "calls per turn"], cpu_rows)
    print("target: CPU per turn ≤ 15 ms (generation, the model's own work, apart)")


def paced(args: argparse.Namespace, levels: list[int]) -> None:
    settings = prepared_data_dir()
    models_file = paced_models_file(settings.data_dir, args.tokens, args.delay_ms / 1000)
    counts = run_counts(levels, args)
    dev_dir = data_dir_copy(settings.data_dir, "langgraph-dev")
    try:
        with ExitStack() as servers:
            ours = start_ours(settings.data_dir, models_file)
            servers.callback(ours.stop)
            dev = start_langgraph_dev(dev_dir, models_file, n_jobs=max(levels))
            servers.callback(dev.stop)

            async def paced_rounds() -> tuple[list[System], dict[str, dict[str, float]], Rounds]:
                async with ours_client(ours.url, ours.token(), levels) as http:
                    systems = [
                        System(OURS, ours_run(http, "paced"), ours.process.pid),
                        System(DEV, langgraph_run(dev.url, "paced"), dev.process.pid),
                    ]
                    await warm_up(systems, [QUESTION])
                    idle = {"after warm-up": await idle_cpu(systems)}
                    measured = await measure_rounds(systems, levels, counts, [QUESTION], args.rounds)
                    idle["after the rounds"] = await idle_cpu(systems)
                return systems, idle, measured

            systems, idle, measured = asyncio.run(paced_rounds())
    finally:
        shutil.rmtree(dev_dir, ignore_errors=True)

    print_idle(systems, idle)
    print_rounds(
        f"Throughput, completed streamed V2 runs, paced model {args.tokens} tokens x {args.delay_ms} ms",
        measured, systems, levels, counts, args.rounds, [(OURS, DEV)],
    )  # fmt: skip
    print(f"target: {OURS} / {DEV} ≥ 5x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,10,50,200", help="concurrent clients, comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per level, every system measured once a round, in rotated order")
    parser.add_argument("--tokens", type=int, default=20, help="paced mode: tokens per answer")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="paced mode: delay between tokens")
    parser.add_argument("--offline", action="store_true", help="the offline stack: real embeddings, local-extractive, a corpus")
    parser.add_argument(
        "--python-docs-fr", nargs="?", const=str(PYTHON_DOCS_FR), default=None, metavar="PATH",
        help=f"offline: this corpus and its development set instead of the demo (default path {PYTHON_DOCS_FR})",
    )  # fmt: skip
    parser.add_argument("--data-dir", type=Path, help="offline: reuse this data dir's store if it exists, else ingest into it")
    parser.add_argument("--distinct-queries", action="store_true", help="offline: never repeat a query text (no query-vector cache hits)")
    parser.add_argument("--runs-per-client", type=int, default=4, help="runs per client at each level and round")
    parser.add_argument("--min-runs", type=int, default=20, help="at least this many runs per level and round")
    parser.add_argument("--profile-runs", type=int, default=30, help="offline: sequential turns measured for CPU per turn")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    levels = [int(x) for x in args.levels.split(",")]
    (offline if args.offline else paced)(args, levels)


if __name__ == "__main__":
    main()

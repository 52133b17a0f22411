"""Time to first event, time to first chunk and whole-run time, p50/p95, for one V2 run at a
time: the graph in-process, our ``/api/v1/chat/stream`` over HTTP, and the same graph served by
``langgraph dev`` through ``langgraph-sdk``. The model is the paced fake, so only the service is
measured. Targets: first event over our HTTP ≤ 1/50 of langgraph dev's; HTTP ≤ 1.5× in-process.

    python -m benchmarks.bench_streaming [--runs 100] [--tokens 20] [--delay-ms 0]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx
from httpx_sse import aconnect_sse
from langgraph_sdk import get_client

from benchmarks.common import (
    QUESTION,
    langgraph_dev_events,
    ms,
    paced_models_file,
    prepared_data_dir,
    print_table,
    start_langgraph_dev,
    start_ours,
    summary,
)
from retrievers import build_store

Timing = tuple[float, float, float]  # first protocol event, first chunk, end


async def in_process(runs: int, store, settings, tokens: int, delay_s: float) -> list[Timing]:
    from graphs.context import AgentContext
    from graphs.dependencies import RunDependencies
    from graphs.registry import get_agent, run_config
    from graphs.streaming import stream_events, user_turn
    from nodes.models.catalog import ModelSpec
    from nodes.models.factory import ModelRegistry
    from nodes.models.testing import PacedChatModel

    spec = ModelSpec(name="paced", provider="python", description="paced fake", context_window=8192)
    models = ModelRegistry(settings)
    models.add(spec, lambda _spec, _t: PacedChatModel(model_name="paced", tokens=tokens, delay_s=delay_s))
    dependencies = RunDependencies(settings=settings, store=store, models=models)
    agent = get_agent("V2")
    graph = agent.build(None)
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        first = chunk = None
        config = run_config(agent, 2, dependencies=dependencies)
        async for event in stream_events(graph, user_turn(QUESTION), context=AgentContext(model="paced"), config=config):
            if event["event"] == "error":
                raise RuntimeError(event["data"])
            first = first or time.perf_counter()
            if event["event"] == "chunk" and chunk is None:
                chunk = time.perf_counter()
        timings.append((first - start, chunk - start, time.perf_counter() - start))
    return timings


async def over_http(runs: int, url: str, headers: dict[str, str]) -> list[Timing]:
    timings = []
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
        for _ in range(runs):
            start = time.perf_counter()
            first = chunk = None
            async with aconnect_sse(client, "POST", "/api/v1/chat/stream", data={"message": QUESTION, "model": "paced"}) as source:
                async for sse in source.aiter_sse():
                    if sse.event == "phase":
                        first = first or time.perf_counter()
                    elif sse.event == "chunk" and chunk is None:
                        chunk = time.perf_counter()
            timings.append((first - start, chunk - start, time.perf_counter() - start))
    return timings


async def through_langgraph_dev(runs: int, url: str) -> list[Timing]:
    client = get_client(url=url)
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        first = chunk = None
        async for event in langgraph_dev_events(client):
            first = first or time.perf_counter()
            if event.get("event") == "chunk" and chunk is None:
                chunk = time.perf_counter()
        timings.append((first - start, chunk - start, time.perf_counter() - start))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()

    settings = prepared_data_dir()
    models_file = paced_models_file(settings.data_dir, args.tokens, args.delay_ms / 1000)
    results: dict[str, list[Timing]] = {}

    ours = start_ours(settings.data_dir, models_file)
    try:
        asyncio.run(over_http(3, ours.url, ours.token()))  # warm-up
        results["ours: /api/v1/chat/stream"] = asyncio.run(over_http(args.runs, ours.url, ours.token()))
    finally:
        ours.stop()
    dev = start_langgraph_dev(settings.data_dir, models_file, n_jobs=4)
    try:
        asyncio.run(through_langgraph_dev(3, dev.url))
        results["langgraph dev + SDK"] = asyncio.run(through_langgraph_dev(args.runs, dev.url))
    finally:
        dev.stop()
    store = build_store(settings)  # the embedded path is free again: in-process runs last
    try:
        asyncio.run(in_process(3, store, settings, args.tokens, args.delay_ms / 1000))
        results["graph in-process"] = asyncio.run(in_process(args.runs, store, settings, args.tokens, args.delay_ms / 1000))
    finally:
        store.close()

    rows = []
    for name, timings in results.items():
        first, chunk, end = (summary([t[i] for t in timings]) for i in range(3))
        rows.append([name, ms(first[0]), ms(first[1]), ms(chunk[0]), ms(chunk[1]), ms(end[0]), ms(end[1])])
    print_table(
        f"Streaming latency, V2, {args.runs} sequential runs, paced model {args.tokens} tokens x {args.delay_ms} ms (milliseconds)",
        ["server", "first event p50", "p95", "first chunk p50", "p95", "run p50", "p95"],
        rows,
    )
    ours_first = summary([t[0] for t in results["ours: /api/v1/chat/stream"]])[0]
    dev_first = summary([t[0] for t in results["langgraph dev + SDK"]])[0]
    ours_end = summary([t[2] for t in results["ours: /api/v1/chat/stream"]])[0]
    local_end = summary([t[2] for t in results["graph in-process"]])[0]
    print(f"\nfirst event, ours / langgraph dev (p50): 1/{dev_first / ours_first:.0f}   (target ≤ 1/50)")
    print(f"run time, ours over HTTP / in-process (p50): {ours_end / local_end:.2f}x   (target ≤ 1.5x)")


if __name__ == "__main__":
    main()

"""Time to first event, time to first chunk and whole-run time, p50/p95, for one V2 run at a
time: the graph in-process, our ``/api/v1/chat/stream`` and our OpenAI-compatible
``/v1/chat/completions`` (streamed) over HTTP, and the same graph served by ``langgraph dev``
through ``langgraph-sdk``. The model is the paced fake, so only the service is measured. Our two
HTTP surfaces run alternately on one server, so drift affects both alike. Targets: first event
over our HTTP ≤ 1/50 of langgraph dev's; HTTP ≤ 1.5× in-process; the OpenAI surface's first
chunk within 10 % of the SSE route's.

    python -m benchmarks.bench_streaming [--runs 100] [--tokens 20] [--delay-ms 0] [--surfaces-only]
"""

from __future__ import annotations

import argparse
import asyncio
import json
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


async def _sse_once(client: httpx.AsyncClient) -> Timing:
    start = time.perf_counter()
    first = chunk = None
    async with aconnect_sse(client, "POST", "/api/v1/chat/stream", data={"message": QUESTION, "model": "paced"}) as source:
        async for sse in source.aiter_sse():
            if sse.event == "phase":
                first = first or time.perf_counter()
            elif sse.event == "chunk" and chunk is None:
                chunk = time.perf_counter()
    return first - start, chunk - start, time.perf_counter() - start


async def _openai_once(client: httpx.AsyncClient) -> Timing:
    """First event: the first phase (``routeur`` extension); first chunk: the first answer text."""
    start = time.perf_counter()
    first = chunk = None
    body = {"model": "routeur-v2:paced", "messages": [{"role": "user", "content": QUESTION}], "stream": True}
    async with aconnect_sse(client, "POST", "/v1/chat/completions", json=body) as source:
        async for sse in source.aiter_sse():
            if sse.data == "[DONE]":
                break
            data = json.loads(sse.data)
            if first is None and data.get("routeur", {}).get("event") == "phase":
                first = time.perf_counter()
            elif chunk is None and data["choices"] and data["choices"][0]["delta"].get("content"):
                chunk = time.perf_counter()
    return first - start, chunk - start, time.perf_counter() - start


async def both_surfaces(runs: int, url: str, headers: dict[str, str]) -> tuple[list[Timing], list[Timing]]:
    """The SSE route and the OpenAI route, alternately (each goes first every other run)."""
    sse: list[Timing] = []
    compatible: list[Timing] = []
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
        for index in range(runs):
            if index % 2:
                compatible.append(await _openai_once(client))
                sse.append(await _sse_once(client))
            else:
                sse.append(await _sse_once(client))
                compatible.append(await _openai_once(client))
    return sse, compatible


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
    parser.add_argument("--surfaces-only", action="store_true", help="only our SSE route vs our OpenAI-compatible route")
    args = parser.parse_args()

    settings = prepared_data_dir()
    models_file = paced_models_file(settings.data_dir, args.tokens, args.delay_ms / 1000)
    results: dict[str, list[Timing]] = {}

    ours = start_ours(settings.data_dir, models_file)
    try:
        asyncio.run(both_surfaces(3, ours.url, ours.token()))  # warm-up
        sse, compatible = asyncio.run(both_surfaces(args.runs, ours.url, ours.token()))
        results["ours: /api/v1/chat/stream"], results["ours: /v1/chat/completions"] = sse, compatible
    finally:
        ours.stop()
    if args.surfaces_only:
        _report(results, args)
        return
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

    _report(results, args)


def _report(results: dict[str, list[Timing]], args: argparse.Namespace) -> None:
    rows = []
    for name, timings in results.items():
        first, chunk, end = (summary([t[i] for t in timings]) for i in range(3))
        rows.append([name, ms(first[0]), ms(first[1]), ms(chunk[0]), ms(chunk[1]), ms(end[0]), ms(end[1])])
    print_table(
        f"Streaming latency, V2, {args.runs} sequential runs, paced model {args.tokens} tokens x {args.delay_ms} ms (milliseconds)",
        ["server", "first event p50", "p95", "first chunk p50", "p95", "run p50", "p95"],
        rows,
    )
    sse_chunk = summary([t[1] for t in results["ours: /api/v1/chat/stream"]])[0]
    compatible_chunk = summary([t[1] for t in results["ours: /v1/chat/completions"]])[0]
    print(f"\nfirst chunk, /v1/chat/completions / /api/v1/chat/stream (p50): {compatible_chunk / sse_chunk:.3f}x   (target ≤ 1.10x)")
    if "langgraph dev + SDK" not in results:
        return
    ours_first = summary([t[0] for t in results["ours: /api/v1/chat/stream"]])[0]
    dev_first = summary([t[0] for t in results["langgraph dev + SDK"]])[0]
    ours_end = summary([t[2] for t in results["ours: /api/v1/chat/stream"]])[0]
    local_end = summary([t[2] for t in results["graph in-process"]])[0]
    print(f"\nfirst event, ours / langgraph dev (p50): 1/{dev_first / ours_first:.0f}   (target ≤ 1/50)")
    print(f"run time, ours over HTTP / in-process (p50): {ours_end / local_end:.2f}x   (target ≤ 1.5x)")


if __name__ == "__main__":
    main()

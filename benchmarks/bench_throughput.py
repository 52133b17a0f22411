"""Completed streamed V2 runs per second at 1, 10, 50 and 200 concurrent clients: our
``/api/v1/chat/stream`` against the same graph served by ``langgraph dev`` (with
``--n-jobs-per-worker`` raised to the highest concurrency, so it is not handicapped). Paced fake
model. Target: ours ≥ 5× langgraph dev.

    python -m benchmarks.bench_throughput [--levels 1,10,50,200] [--tokens 20] [--delay-ms 0]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
from httpx_sse import aconnect_sse
from langgraph_sdk import get_client

from benchmarks.common import (
    QUESTION,
    langgraph_dev_events,
    paced_models_file,
    prepared_data_dir,
    print_table,
    start_langgraph_dev,
    start_ours,
)


async def measure(concurrency: int, total: int, one_run: Callable[[], Awaitable[bool]]) -> tuple[float, int]:
    """Runs per second with ``concurrency`` clients sharing ``total`` runs; and the failures."""
    remaining = total
    failures = 0

    async def client() -> None:
        nonlocal remaining, failures
        while remaining > 0:
            remaining -= 1
            failures += not await one_run()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return total / (time.perf_counter() - started), failures


def ours_run(http: httpx.AsyncClient) -> Callable[[], Awaitable[bool]]:
    async def run() -> bool:
        async with aconnect_sse(http, "POST", "/api/v1/chat/stream", data={"message": QUESTION, "model": "paced"}) as source:
            names = [sse.event async for sse in source.aiter_sse()]
        return names[-1] == "done"

    return run


def langgraph_run(url: str) -> Callable[[], Awaitable[bool]]:
    client = get_client(url=url, timeout=300)

    async def run() -> bool:
        last = None
        async for event in langgraph_dev_events(client):
            last = event.get("event")
        return last == "done"

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,10,50,200")
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    settings = prepared_data_dir()
    models_file = paced_models_file(settings.data_dir, args.tokens, args.delay_ms / 1000)
    rates: dict[str, dict[int, tuple[float, int]]] = {"ours": {}, "langgraph dev": {}}

    ours = start_ours(settings.data_dir, models_file)
    try:
        headers = ours.token()
        limits = httpx.Limits(max_connections=max(levels) + 10, max_keepalive_connections=max(levels) + 10)

        async def ours_levels() -> None:
            async with httpx.AsyncClient(base_url=ours.url, headers=headers, timeout=300, limits=limits) as http:
                await measure(2, 4, ours_run(http))  # warm-up
                for level in levels:
                    rates["ours"][level] = await measure(level, max(4 * level, 40), ours_run(http))

        asyncio.run(ours_levels())
    finally:
        ours.stop()
    dev = start_langgraph_dev(settings.data_dir, models_file, n_jobs=max(levels))
    try:

        async def dev_levels() -> None:
            await measure(2, 4, langgraph_run(dev.url))
            for level in levels:
                rates["langgraph dev"][level] = await measure(level, max(2 * level, 20), langgraph_run(dev.url))

        asyncio.run(dev_levels())
    finally:
        dev.stop()

    rows = []
    for level in levels:
        ours_rate, ours_failed = rates["ours"][level]
        dev_rate, dev_failed = rates["langgraph dev"][level]
        rows.append([str(level), f"{ours_rate:.1f}", f"{dev_rate:.1f}", f"{ours_rate / dev_rate:.1f}x", f"{ours_failed}/{dev_failed}"])
    print_table(
        f"Throughput, completed streamed V2 runs per second (paced model {args.tokens} tokens x {args.delay_ms} ms)",
        ["concurrent clients", "ours", "langgraph dev", "ratio", "failed (ours/dev)"],
        rows,
    )
    print("target: ratio ≥ 5x")


if __name__ == "__main__":
    main()

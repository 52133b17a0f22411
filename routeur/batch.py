"""Running many requests with a bounded number in flight (like ``asyncio.gather`` under a semaphore, with per-item results).

The Python client's batches and the evaluation runner share this: results come back in input
order, one failing item never loses the others (its exception takes its place), and progress is
reported as each item ends, to a callback or a tqdm bar.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

ProgressCallback = Callable[[int, int, Any], None]
"""Called as ``(done, total, result_or_exception)`` each time an item ends."""


async def run_batch(
    items: Sequence[T],
    work: Callable[[T], Awaitable[R]],
    *,
    max_concurrent: int = 4,
    progress: ProgressCallback | bool | None = None,
    description: str = "Requests",
) -> list[R | Exception]:
    """``work(item)`` for every item, at most ``max_concurrent`` at a time.

    A fixed pool of workers pulls the items, so a batch of thousands creates ``max_concurrent``
    tasks, not thousands. ``progress=True`` shows a tqdm bar; a callable is called after each item.
    Cancelling the batch cancels the items in flight."""
    if max_concurrent < 1:
        raise ValueError("max_concurrent must be at least 1")
    total = len(items)
    results: list[Any] = [None] * total
    pending = iter(range(total))
    done = 0
    bar = None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=description, unit="req")

    def report(result: Any) -> None:
        nonlocal done
        done += 1
        if bar is not None:
            bar.update(1)
        elif callable(progress):
            progress(done, total, result)

    async def worker() -> None:
        for index in pending:
            try:
                results[index] = await work(items[index])
            except Exception as exc:  # recorded in its place; the batch goes on
                results[index] = exc
            report(results[index])

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(max_concurrent, total)):
                group.create_task(worker())
    finally:
        if bar is not None:
            bar.close()
    return results

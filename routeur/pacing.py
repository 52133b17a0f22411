"""The client's side of the server's rate limit: send no faster than the server announces.

The server counts a caller's chat and completion requests in fixed windows and says where the
caller stands on every limited answer (``RateLimit-Limit``, ``-Remaining``, ``-Reset`` seconds,
or the same ``X-RateLimit-*`` names). ``RatePacer`` keeps that state and makes a request wait
for the next window when the current one is used up, instead of sending it into a 429. Only
routes that have answered with these headers are paced: the others are not limited.

The count is the larger of what this client sent in the window and what the server reported
(other processes using the same credentials count too); several requests in flight share it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

# A window that ends while a request is on its way would count it in the next one: wait a little longer.
MARGIN_S = 0.25


@dataclass(frozen=True)
class RateLimitWait:
    """Reported before the client waits: how long, and the limit that makes it wait."""

    seconds: float
    limit: int
    window_s: float | None
    path: str


RateLimitCallback = Callable[[RateLimitWait], None]


def announced(headers: Mapping[str, str]) -> tuple[int, int, float, float | None] | None:
    """``(limit, remaining, reset seconds, window seconds)`` from a response's headers, or None
    when it carries no (valid) rate-limit state."""

    def number(*names: str) -> float | None:
        for name in names:
            value = headers.get(name)
            if value is not None:
                try:
                    return float(value.split(",")[0].split(";")[0].strip())
                except ValueError:
                    return None
        return None

    limit = number("RateLimit-Limit", "X-RateLimit-Limit")
    remaining = number("RateLimit-Remaining", "X-RateLimit-Remaining")
    reset = number("RateLimit-Reset", "X-RateLimit-Reset")
    if limit is None or remaining is None or reset is None or limit < 1:
        return None
    window = None
    policy = headers.get("RateLimit-Policy", "")
    if "w=" in policy:
        try:
            window = float(policy.split("w=")[1].split(";")[0].split(",")[0])
        except ValueError:
            window = None
    return int(limit), max(int(remaining), 0), max(reset, 0.0), window


class RatePacer:
    """The caller's standing in the server's current window, shared by its requests in flight.
    ``clock`` and ``sleep`` are the monotonic clock and the wait (replaceable in tests)."""

    def __init__(
        self,
        on_wait: RateLimitCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.on_wait = on_wait
        self.clock = clock
        self.sleep = sleep
        self.limit: int | None = None
        self.window_s: float | None = None
        self.used = 0
        self.window_ends: float | None = None
        self.waited_s = 0.0
        self.limited_paths: set[str] = set()
        self.answered_paths: set[str] = set()
        self._probes: dict[str, asyncio.Event] = {}
        self._lock = asyncio.Lock()

    async def acquire(self, path: str) -> None:
        """Wait, if need be, until a request to ``path`` fits in the announced limit, and count it.

        Until ``path`` has answered once, whether it is limited is unknown: its first request
        goes alone and the others wait for its answer, so a batch does not send a burst past a
        limit it has not learnt yet."""
        while path not in self.limited_paths and path not in self.answered_paths:
            probe = self._probes.get(path)
            if probe is None:
                self._probes[path] = asyncio.Event()
                return
            await probe.wait()
        if path not in self.limited_paths:
            return
        async with self._lock:
            while True:
                now = self.clock()
                if self.window_ends is not None and now >= self.window_ends:
                    self.used, self.window_ends = 0, None  # the window is over: a fresh count
                if self.limit is None or self.window_ends is None or self.used < self.limit:
                    self.used += 1
                    return
                wait = self.window_ends - now + MARGIN_S
                if self.on_wait is not None:
                    self.on_wait(RateLimitWait(seconds=wait, limit=self.limit, window_s=self.window_s, path=path))
                self.waited_s += wait
                await self.sleep(wait)

    def settled(self, path: str) -> None:
        """A request to ``path`` is over (answered or failed): release those waiting on its probe."""
        probe = self._probes.pop(path, None)
        if probe is not None:
            probe.set()

    def update(self, path: str, headers: Mapping[str, str]) -> None:
        """Take in what a response says of the caller's standing (no limit announced: not limited)."""
        self.answered_paths.add(path)
        state = announced(headers)
        if state is None:
            self.settled(path)
            return
        limit, remaining, reset, window = state
        self.limited_paths.add(path)
        now = self.clock()
        ends = now + reset
        if self.window_ends is not None and ends > self.window_ends + 1.5:
            # The server has started a window this client did not know of: what it counted is what counts.
            self.used = limit - remaining
        else:
            self.used = max(self.used, limit - remaining)
        self.limit, self.window_s, self.window_ends = limit, window, ends
        self.settled(path)

    def exhausted(self, path: str, headers: Mapping[str, str]) -> None:
        """A 429 on ``path``: nothing more fits until the window announced with it ends."""
        self.update(path, headers)
        if self.limit is not None:
            self.used = max(self.used, self.limit)

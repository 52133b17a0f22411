"""The client's pacing to the server's announced rate limit, on a fake clock: no request is sent
into a window the server said was used up, the wait is the announced reset, and a new window
starts a fresh count."""

from __future__ import annotations

import asyncio

from routeur.pacing import RatePacer, RateLimitWait, announced


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def headers(limit: int, remaining: int, reset: int, prefix: str = "") -> dict[str, str]:
    return {
        f"{prefix}RateLimit-Limit": str(limit),
        f"{prefix}RateLimit-Remaining": str(remaining),
        f"{prefix}RateLimit-Reset": str(reset),
        **({"RateLimit-Policy": f"{limit}; w=60"} if not prefix else {}),
    }


def test_both_header_spellings_are_read_and_junk_is_ignored():
    assert announced(headers(10, 4, 30)) == (10, 4, 30.0, 60.0)
    assert announced(headers(10, 4, 30, prefix="X-")) == (10, 4, 30.0, None)
    assert announced({"RateLimit-Limit": "ten", "RateLimit-Remaining": "1", "RateLimit-Reset": "3"}) is None
    assert announced({"Content-Type": "application/json"}) is None


async def test_routes_that_never_announced_a_limit_are_not_paced():
    clock = Clock()
    pacer = RatePacer(clock=clock, sleep=clock.sleep)
    pacer.update("/completion", headers(1, 0, 50))
    for _ in range(5):
        await pacer.acquire("/projects/a/documents")
        pacer.update("/projects/a/documents", {"Content-Type": "application/json"})
    assert clock.sleeps == []


async def test_the_first_request_to_a_route_goes_alone_until_it_says_whether_the_route_is_limited():
    clock = Clock()
    pacer = RatePacer(clock=clock, sleep=clock.sleep)
    await pacer.acquire("/completion")  # the probe
    others = [asyncio.create_task(pacer.acquire("/completion")) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(task.done() for task in others)  # held until the probe's answer
    pacer.update("/completion", headers(3, 2, 30))  # limit 3, the probe used one
    await asyncio.gather(*others)
    # Two fit in the window; the third waited for the next one, where it is the first.
    assert len(clock.sleeps) == 1 and 30 <= clock.sleeps[0] <= 31 and pacer.used == 1


async def test_a_probe_that_got_no_answer_releases_the_others():
    pacer = RatePacer()
    await pacer.acquire("/completion")
    waiting = asyncio.create_task(pacer.acquire("/completion"))
    await asyncio.sleep(0)
    pacer.settled("/completion")  # the probe's connection failed
    await asyncio.wait_for(waiting, 1)


async def test_the_request_after_the_last_allowed_one_waits_for_the_window_and_says_so():
    clock, waits = Clock(), []
    pacer = RatePacer(on_wait=waits.append, clock=clock, sleep=clock.sleep)
    pacer.update("/completion", headers(3, 2, 40))  # one request seen by the server
    await pacer.acquire("/completion")
    await pacer.acquire("/completion")
    assert clock.sleeps == []  # 3 of 3 used, none waited
    await pacer.acquire("/completion")
    assert len(clock.sleeps) == 1 and 40 <= clock.sleeps[0] <= 41
    assert waits == [RateLimitWait(seconds=clock.sleeps[0], limit=3, window_s=60.0, path="/completion")]
    assert pacer.waited_s == clock.sleeps[0]
    # The new window: the limit again, then a wait for the one after.
    await pacer.acquire("/completion")
    await pacer.acquire("/completion")
    assert len(clock.sleeps) == 1


async def test_the_server_count_wins_when_it_is_higher_other_processes_share_the_credentials():
    clock = Clock()
    pacer = RatePacer(clock=clock, sleep=clock.sleep)
    pacer.update("/api/v1/chat", headers(10, 0, 25))
    await pacer.acquire("/api/v1/chat")
    assert clock.sleeps and 25 <= clock.sleeps[0] <= 26


async def test_a_429_blocks_until_the_window_ends():
    clock = Clock()
    pacer = RatePacer(clock=clock, sleep=clock.sleep)
    pacer.update("/completion", headers(5, 3, 10))
    pacer.exhausted("/completion", headers(5, 3, 10))  # the server refused anyway
    await pacer.acquire("/completion")
    assert clock.sleeps and 10 <= clock.sleeps[0] <= 11


async def test_requests_in_flight_together_share_the_quota():
    clock = Clock()
    pacer = RatePacer(clock=clock, sleep=clock.sleep)
    pacer.update("/completion", headers(4, 4, 60))
    await asyncio.gather(*(pacer.acquire("/completion") for _ in range(6)))
    assert len(clock.sleeps) == 1  # 4 go at once, the 5th waits for the window, the 6th goes with it
    assert pacer.used == 2


def test_the_evaluation_says_once_that_it_is_limited_and_what_to_change():
    import io

    from routeur.evaluation.command import RateLimitNotice

    out = io.StringIO()
    notice = RateLimitNotice(with_credentials=False, stream=out)
    for seconds in (42.0, 58.0):
        notice(RateLimitWait(seconds=seconds, limit=10, window_s=60.0, path="/completion"))
    notice.summary(100.0)
    first, summary = out.getvalue().splitlines()
    assert "allows this client 10 chat/completion requests per 60 s" in first and "waiting 42 s" in first
    for line in (first, summary):
        assert "ROUTEUR_RATE_LIMIT_PER_MINUTE" in line and "rate_limit_per_minute" in line and "--client-id" in line
    assert summary.startswith("routeur eval: waited 100 s in all")
    configured = io.StringIO()
    RateLimitNotice(with_credentials=True, stream=configured)(RateLimitWait(1.0, 10, 60.0, "/completion"))
    assert "--client-id" not in configured.getvalue()

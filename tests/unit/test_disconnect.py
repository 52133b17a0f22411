"""Work for a client that left is cancelled (``api.disconnect``), work for one still there is not."""

from __future__ import annotations

import asyncio

import pytest
from litestar import Request

from api.disconnect import ClientDisconnectedError, unless_disconnected


def _request(leaves: asyncio.Event) -> Request:
    async def receive():
        await leaves.wait()
        return {"type": "http.disconnect"}

    return Request({"type": "http", "method": "POST", "path": "/", "headers": [], "query_string": b""}, receive=receive)  # type: ignore[arg-type]


async def test_work_is_cancelled_when_the_client_disconnects():
    leaves, cancelled = asyncio.Event(), asyncio.Event()

    async def long_work():
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    asyncio.get_running_loop().call_later(0.05, leaves.set)
    with pytest.raises(ClientDisconnectedError):
        await unless_disconnected(_request(leaves), long_work())
    assert cancelled.is_set()


async def test_work_of_a_connected_client_returns_its_result():
    async def work():
        await asyncio.sleep(0)
        return 42

    assert await unless_disconnected(_request(asyncio.Event()), work()) == 42

"""Work for a client that has gone away is stopped: an upload's parsing, embedding and writing
run as a task that is cancelled when the connection closes (the store rolls back a partial
write), instead of tying up a core for a response nobody will read."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

import anyio
from litestar import Request
from litestar.exceptions import HTTPException

T = TypeVar("T")


class ClientDisconnectedError(HTTPException):
    status_code = 400
    detail = "The client disconnected before the work was done: nothing was kept"


async def _disconnected(request: Request[Any, Any, Any]) -> None:
    """Returns once the ASGI server reports ``http.disconnect`` (after the body was read,
    ``receive`` only ever yields that)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request[Any, Any, Any], work: Awaitable[T]) -> T:
    """``work``'s result, or ``ClientDisconnectedError`` once it was cancelled because the client left."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()
        watcher.cancel()
        with anyio.CancelScope(shield=True):
            await asyncio.gather(task, watcher, return_exceptions=True)
    if task.cancelled():
        raise ClientDisconnectedError()
    return task.result()

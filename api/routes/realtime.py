"""``/realtime/ws``: the realtime WebSocket (protocol in ``api.services.realtime``).

Authenticated before the handshake is accepted (an ``Authorization: Bearer`` header, or
``?token=`` for browsers); a refused handshake never opens. The socket is closed with code 4408
after ``ROUTEUR_REALTIME_IDLE_TIMEOUT_S`` without a client message while no turn runs; a
closed socket cancels its running turn."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.di import NamedDependency

from api.auth import Principal
from api.ratelimit import ChatBudget
from api.services.graphs import AgentGraphs
from api.services.realtime import RealtimeConnection, SignallingRooms, problem
from api.services.turn_locks import TurnLocks
from graphs.dependencies import RunDependencies
from routeur.conversations import ConversationStore

IDLE_CLOSE_CODE = 4408


@websocket("/realtime/ws", name="realtime")
async def realtime_socket(
    socket: WebSocket[Principal, Any, Any],
    run_dependencies: NamedDependency[RunDependencies],
    graphs: NamedDependency[AgentGraphs],
    conversations: NamedDependency[ConversationStore],
    turn_locks: NamedDependency[TurnLocks],
    rooms: NamedDependency[SignallingRooms],
    chat_budget: NamedDependency[ChatBudget],
) -> None:
    await socket.accept()
    sending = asyncio.Lock()  # a turn's events, pongs and relayed signalling share the socket

    async def send(data: dict[str, Any]) -> None:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=msgspec.to_builtins)
        async with sending:
            await socket.send_text(text)

    connection = RealtimeConnection(
        principal=socket.user,
        send=send,
        dependencies=run_dependencies,
        graphs=graphs,
        conversations=conversations,
        turn_locks=turn_locks,
        rooms=rooms,
        budget=chat_budget,
    )
    idle_timeout = run_dependencies.settings.realtime_idle_timeout_s
    try:
        while True:
            try:
                event = await asyncio.wait_for(socket.receive(), timeout=max(idle_timeout - connection.idle_for(), 0.01))
            except TimeoutError:
                if connection.idle_for() >= idle_timeout:
                    await socket.close(code=IDLE_CLOSE_CODE, reason="Idle timeout")
                    return
                continue
            if event["type"] == "websocket.disconnect":
                return
            if event.get("text") is None:
                await send(problem("invalid_message", "Messages are JSON text frames, not binary"))
                continue
            await connection.handle(event["text"])
    finally:
        await connection.close()

"""The realtime WebSocket's protocol: JSON messages ``{"type", "payload"}`` in both directions.

Client → server:
- ``ping`` → ``pong`` (same payload): keep-alive.
- ``message`` (``text``, optional ``sessionId``, ``agent``, ``model``, ``temperature``,
  ``project_id``, ``sources``, ``top_k``) runs a turn in a session, as ``/api/v1/chat/stream``
  does, and sends its events as ``{"type": <event>, "payload": <the SSE event's data>}``:
  ``session``, ``phase``, ``chunk``, ``sources``, ``done`` or ``error``. One turn at a time per
  connection; each counts against the caller's chat rate limit, shared with the HTTP routes.
- ``cancel`` stops the running turn (its model call upstream too) → ``cancelled``.
- ``join`` (``room``, optional ``project_id``) enters a WebRTC signalling room → ``joined``
  (``peerId``, the other ``peers``); then ``offer``, ``answer`` and ``ice-candidate`` payloads are
  relayed, with ``from`` (the sender's peer id), to the room's other peers — or only to
  ``payload.to`` when it names one. Rooms belong to a project the token may use, so callers of
  two projects never meet. The server relays signalling only, never media.

Anything else (malformed JSON, a payload of the wrong shape, an unknown type) gets
``{"type": "error", "payload": {"code", "message"}}`` and the connection goes on.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import anyio
import msgspec
from litestar.exceptions import HTTPException

from api.auth import Principal
from api.ratelimit import ChatBudget
from api.schemas import RealtimeJoin, RealtimeMessage, check_session_id
from api.services.graphs import AgentGraphs
from api.services.turn_locks import Lease, TurnLocks
from api.services.turns import SessionRecord, build_turn, resolve_project, session_events, thread_id
from graphs.dependencies import RunDependencies
from graphs.registry import UnknownAgentError
from nodes.models.catalog import UnknownModelError
from nodes.models.factory import ModelUnavailableError
from retrievers.base import StoreUnavailableError
from routeur.conversations import ConversationStore

Send = Callable[[dict[str, Any]], Awaitable[None]]
SIGNALS = ("offer", "answer", "ice-candidate")


class RoomFullError(Exception):
    pass


@dataclass
class SignallingRooms:
    """Who is in which signalling room, for this process (signalling needs every peer of a room
    on the same API process: one worker, or sticky sessions by room)."""

    max_peers: int
    _rooms: dict[tuple[str, str], dict[str, Send]] = field(default_factory=dict)

    def join(self, project_id: str, room: str, peer_id: str, send: Send) -> list[str]:
        """The peers already there; ``RoomFullError`` when the room is full."""
        peers = self._rooms.setdefault((project_id, room), {})
        if peer_id not in peers and len(peers) >= self.max_peers:
            raise RoomFullError(f"Room '{room}' already has {self.max_peers} peers")
        others = [p for p in peers if p != peer_id]
        peers[peer_id] = send
        return others

    def leave(self, project_id: str, room: str, peer_id: str) -> list[Send]:
        """Removes the peer; returns how to reach the ones who stay."""
        peers = self._rooms.get((project_id, room), {})
        peers.pop(peer_id, None)
        if not peers:
            self._rooms.pop((project_id, room), None)
        return list(peers.values())

    def recipients(self, project_id: str, room: str, sender: str, to: str | None) -> list[Send]:
        peers = self._rooms.get((project_id, room), {})
        return [send for peer, send in peers.items() if peer != sender and (to is None or peer == to)]


def message(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "payload": payload}


def problem(code: str, text: str, **extra: Any) -> dict[str, Any]:
    return message("error", {"code": code, "message": text, **extra})


def _request_problem(exc: Exception) -> dict[str, Any]:
    """A turn refused before it starts, with the status the HTTP routes would give it."""
    if isinstance(exc, HTTPException):
        return problem("rejected", exc.detail, status=exc.status_code)
    status = 503 if isinstance(exc, ModelUnavailableError | StoreUnavailableError) else 400
    return problem("rejected", str(exc), status=status)


@dataclass
class RealtimeConnection:
    """One socket's state: its caller, its running turn, its signalling room."""

    principal: Principal
    send: Send
    dependencies: RunDependencies
    graphs: AgentGraphs
    conversations: ConversationStore
    turn_locks: TurnLocks
    rooms: SignallingRooms
    budget: ChatBudget
    peer_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    turn: asyncio.Task[None] | None = None
    session_id: str | None = None
    room: tuple[str, str] | None = None
    running: bool = False
    last_activity: float = field(default_factory=time.monotonic)

    def idle_for(self) -> float:
        """Seconds without a client message or a running turn (0 while a turn runs)."""
        return 0.0 if self.busy else time.monotonic() - self.last_activity

    @property
    def busy(self) -> bool:
        return self.running

    async def handle(self, raw: str) -> None:
        """One client message: answered, or refused with an ``error`` message."""
        self.last_activity = time.monotonic()
        try:
            decoded = json.loads(raw)
        except (ValueError, RecursionError):
            await self.send(problem("malformed_json", "The message is not valid JSON"))
            return
        if not isinstance(decoded, dict) or not isinstance(decoded.get("type"), str):
            await self.send(problem("invalid_message", 'A message is a JSON object {"type": <string>, "payload": <object>}'))
            return
        kind, payload = decoded["type"], decoded.get("payload", {})
        if not isinstance(payload, dict):
            await self.send(problem("invalid_message", "payload must be a JSON object", type=kind))
            return
        if kind == "ping":
            await self.send(message("pong", payload))
        elif kind == "message":
            await self._start_turn(payload)
        elif kind == "cancel":
            await self._cancel()
        elif kind == "join":
            await self._join(payload)
        elif kind in SIGNALS:
            await self._relay(kind, payload)
        else:
            known = ", ".join(("ping", "message", "cancel", "join", *SIGNALS))
            await self.send(problem("unknown_type", f"Unknown message type '{kind}'; known: {known}", type=kind))

    async def _start_turn(self, payload: dict[str, Any]) -> None:
        if self.busy:
            await self.send(problem("busy", "A turn is already running on this connection: wait for its done, or send cancel"))
            return
        if (retry_after := await self.budget.spend(self.principal.sub)) is not None:
            await self.send(problem("rate_limited", "Rate limit exceeded: too many requests, retry later", status=429, retry_after=retry_after))
            return
        try:
            request = msgspec.convert(payload, RealtimeMessage, strict=False)
            session_id = check_session_id(request.sessionId) if request.sessionId else uuid.uuid4().hex
            turn = build_turn(
                request,
                principal=self.principal,
                dependencies=self.dependencies,
                graphs=self.graphs.sessions,
                thread_id=thread_id(self.principal, session_id),
                session=SessionRecord(store=self.conversations, owner=self.principal.sub, session_id=session_id),
            )
        except msgspec.ValidationError as exc:
            await self.send(problem("invalid_message", f"Invalid message payload: {exc}", status=400))
            return
        except (HTTPException, UnknownModelError, UnknownAgentError, ModelUnavailableError, StoreUnavailableError) as exc:
            await self.send(_request_problem(exc))
            return

        async def run() -> None:
            """The session's lock is awaited here, not in the receive loop (``enqueue`` may wait),
            so pings and ``cancel`` are answered meanwhile. The last event (``done`` or
            ``error``) goes out once the run is over and the session free, so a follow-up sent
            as soon as it arrives is not refused as busy."""
            try:
                lease = await self.turn_locks.acquire(turn.thread_id or "")
            except HTTPException as exc:
                self.running = False
                await _deliver(self.send, _request_problem(exc))
                return
            except BaseException:  # cancelled while waiting for the session
                self.running = False
                raise
            last: dict[str, Any] | None = None
            try:
                async with aclosing(session_events(self.dependencies, turn, session_id)) as stream:
                    async for name, data in stream:
                        if name in ("done", "error"):
                            last = message(name, data)
                        else:
                            await self.send(message(name, data))
                await self._end_turn(lease)
                if last is not None:
                    await self.send(last)
            except Exception:  # noqa: BLE001 - the socket went away mid-turn; the loop sees it closed
                return
            finally:
                await self._end_turn(lease)

        self.session_id = session_id
        self.running = True
        self.turn = asyncio.create_task(run())

    async def _end_turn(self, lease: Lease) -> None:
        self.running = False
        self.last_activity = time.monotonic()
        with anyio.CancelScope(shield=True):
            await lease.release()

    async def _cancel(self) -> None:
        running = self.busy
        await self.stop_turn()
        await self.send(message("cancelled", {"cancelled": running, "sessionId": self.session_id}))

    async def stop_turn(self) -> None:
        """Cancels the running turn and waits until it has stopped (its lock released)."""
        if self.turn is not None and not self.turn.done():
            self.turn.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.gather(self.turn, return_exceptions=True)

    async def _join(self, payload: dict[str, Any]) -> None:
        try:
            request = msgspec.convert(payload, RealtimeJoin, strict=False)
            project_id = resolve_project(self.principal, request.project_id)
        except msgspec.ValidationError as exc:
            await self.send(problem("invalid_message", f"Invalid join payload: {exc}", status=400))
            return
        except HTTPException as exc:
            await self.send(_request_problem(exc))
            return
        await self.leave_room()
        try:
            peers = self.rooms.join(project_id, request.room, self.peer_id, self.send)
        except RoomFullError as exc:
            await self.send(problem("room_full", str(exc), status=409))
            return
        self.room = (project_id, request.room)
        await self.send(message("joined", {"room": request.room, "project_id": project_id, "peerId": self.peer_id, "peers": peers}))
        for send in self.rooms.recipients(project_id, request.room, self.peer_id, None):
            await _deliver(send, message("peer-joined", {"room": request.room, "peerId": self.peer_id}))

    async def _relay(self, kind: str, payload: dict[str, Any]) -> None:
        if self.room is None:
            await self.send(problem("not_joined", f"Send join with a room id before '{kind}'", type=kind))
            return
        to = payload.get("to")
        if to is not None and not isinstance(to, str):
            await self.send(problem("invalid_message", "payload.to must be a peer id", type=kind))
            return
        recipients = self.rooms.recipients(*self.room, self.peer_id, to)
        relayed = message(kind, {**payload, "from": self.peer_id})
        for send in recipients:
            await _deliver(send, relayed)
        if to is not None and not recipients:
            await self.send(problem("unknown_peer", f"No peer '{to}' in this room", type=kind))

    async def leave_room(self) -> None:
        if self.room is None:
            return
        project_id, room = self.room
        self.room = None
        for send in self.rooms.leave(project_id, room, self.peer_id):
            await _deliver(send, message("peer-left", {"room": room, "peerId": self.peer_id}))

    async def close(self) -> None:
        """The socket is gone: the running turn is cancelled, the room left."""
        await self.stop_turn()
        await self.leave_room()


async def _deliver(send: Send, payload: dict[str, Any]) -> None:
    """A peer that has just gone away is not the sender's problem."""
    try:
        await send(payload)
    except Exception:  # noqa: BLE001 - its own connection notices and cleans up
        return

"""The realtime WebSocket against a real ``routeur serve`` process, with a real WebSocket client
(``websockets``): handshake auth, keep-alive, a turn's events, cancellation, signalling rooms,
bad input. The upstream model is the local OpenAI-compatible stub, whose counters show whether
a run really stopped."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.support.api_support import sse_events, start_demo_server

PORT_QUESTION = "Sur quel port le serveur écoute-t-il par défaut ?"
CLIENTS = [
    {"id": "alpha", "secret": "alpha-secret-0123456789", "projects": ["default"]},
    {"id": "beta", "secret": "beta-secret-0123456789ab", "projects": ["other"]},
    {"id": "both", "secret": "both-secret-0123456789ab", "projects": ["default", "other"]},
]


@pytest.fixture(scope="module")
async def server(settings_factory, stub):
    process = await start_demo_server(
        settings_factory("realtime"),
        stub.models_file_entries(),
        ROUTEUR_RATE_LIMIT_PER_MINUTE="1000",
        ROUTEUR_CLIENTS=json.dumps(CLIENTS),
    )
    yield process
    process.stop()


def token(server, client_id: str = "alpha") -> str:
    client = next(c for c in CLIENTS if c["id"] == client_id)
    response = httpx.post(f"{server.url}/auth/token", json={"client_id": client["id"], "client_secret": client["secret"]}, timeout=10)
    return response.json()["access_token"]


def ws_url(server, query: str = "") -> str:
    return server.url.replace("http://", "ws://") + "/realtime/ws" + query


def bearer(server, client_id: str = "alpha") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(server, client_id)}"}


async def send(ws: ClientConnection, kind: str, payload: Any = None) -> None:
    await ws.send(json.dumps({"type": kind, "payload": payload if payload is not None else {}}))


async def receive(ws: ClientConnection, timeout: float = 30) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def until(ws: ClientConnection, kind: str, timeout: float = 30) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The first message of ``kind`` and every message before it."""
    seen = []
    while True:
        message = await receive(ws, timeout)
        if message["type"] == kind:
            return message, seen
        seen.append(message)


def _stats(stub) -> dict[str, int]:
    return httpx.get(f"http://127.0.0.1:{stub.port}/stats", timeout=5).json()


async def _wait_cancelled(stub, before: dict[str, int]) -> dict[str, int]:
    deadline = time.monotonic() + 10
    while _stats(stub)["streams_cancelled"] == before["streams_cancelled"] and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return _stats(stub)


async def test_handshake_is_refused_before_accept_without_a_valid_token(server):
    for url, headers in [
        (ws_url(server), {}),
        (ws_url(server, "?token=not-a-jwt"), {}),
        (ws_url(server), {"Authorization": "Bearer not-a-jwt"}),
        (ws_url(server), {"Authorization": f"Token {token(server)}"}),  # bearer only
    ]:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, additional_headers=headers, open_timeout=10):
                pass
        assert refused.value.response.status_code == 403
    # a valid token opens it, as a header or (browsers) as the query parameter
    for url, headers in [(ws_url(server), bearer(server)), (ws_url(server, f"?token={token(server)}"), {})]:
        async with connect(url, additional_headers=headers) as ws:
            await send(ws, "ping", {"n": 1})
            assert await receive(ws) == {"type": "pong", "payload": {"n": 1}}


def test_the_query_token_is_accepted_on_the_realtime_socket_only(server):
    response = httpx.get(f"{server.url}/auth/verify", params={"token": token(server)}, timeout=10)
    assert response.status_code == 401


async def test_a_turn_streams_the_sse_routes_events_as_messages(server):
    async with connect(ws_url(server), additional_headers=bearer(server)) as ws:
        await send(ws, "message", {"text": PORT_QUESTION, "model": "stub-ok"})
        done, before = await until(ws, "done")
        session_id = before[0]["payload"]["sessionId"]
        # a follow-up sent the moment done arrives finds the session free
        await send(ws, "message", {"text": "Et la limite de requêtes ?", "model": "stub-ok", "sessionId": session_id})
        follow, between = await until(ws, "done")
        assert follow["payload"]["sessionId"] == session_id and "error" not in [m["type"] for m in between]
    kinds = [m["type"] for m in before]
    assert kinds[0] == "session" and "phase" in kinds and "chunk" in kinds and "sources" in kinds and "error" not in kinds
    assert kinds.index("sources") < len(kinds) and kinds.index("phase") < kinds.index("chunk")
    answer = "".join(m["payload"]["content"] for m in before if m["type"] == "chunk")
    assert answer == done["payload"]["answer"] == "Le service écoute sur le port 7860 [1]."
    assert done["payload"]["sessionId"] == session_id and done["payload"]["sources"][0]["id"] == 1
    assert done["payload"]["metadata"]["model"] == "stub-ok" and done["payload"]["metadata"]["usage"]["output_tokens"] > 0

    # the same turn on the SSE route sends the same events with the same fields
    with httpx.Client(base_url=server.url, headers=bearer(server), timeout=30) as client:
        body = client.post("/api/v1/chat/stream", data={"message": PORT_QUESTION, "model": "stub-ok"}).text
    sse = sse_events(body)
    # Chunks ready together travel as one event, so how many there are depends on timing: the
    # order of the kinds is compared with each run of chunks as one, and the text they carry.
    assert _runs([name for name, _ in sse]) == _runs([*kinds, "done"])
    assert "".join(data["content"] for name, data in sse if name == "chunk") == answer
    assert set(sse[-1][1]) == set(done["payload"]) and set(sse[0][1]) == set(before[0]["payload"])

    # the session is a real one: its history holds the turn
    with httpx.Client(base_url=server.url, headers=bearer(server), timeout=30) as client:
        history = client.get(f"/api/v1/sessions/{session_id}").json()
    assert [m["role"] for m in history["messages"]] == ["user", "assistant"] * 2


async def test_cancel_stops_the_running_turn_and_the_connection_stays_usable(server, stub):
    before = _stats(stub)
    async with connect(ws_url(server), additional_headers=bearer(server)) as ws:
        await send(ws, "message", {"text": PORT_QUESTION, "model": "stub-slow"})
        await until(ws, "chunk")
        await send(ws, "cancel")
        cancelled, between = await until(ws, "cancelled")
        assert cancelled["payload"]["cancelled"] is True and all(m["type"] in ("chunk", "phase") for m in between)
        after = await _wait_cancelled(stub, before)
        assert after["streams_cancelled"] == before["streams_cancelled"] + 1
        assert after["streams_finished"] == before["streams_finished"]
        await send(ws, "ping")
        assert (await receive(ws))["type"] == "pong"  # nothing of the cancelled turn came after it
        await send(ws, "message", {"text": PORT_QUESTION, "model": "stub-ok"})
        done, _ = await until(ws, "done")
        assert done["payload"]["answer"].startswith("Le service")


async def test_closing_the_socket_cancels_the_turn_upstream(server, stub):
    before = _stats(stub)
    async with connect(ws_url(server), additional_headers=bearer(server)) as ws:
        await send(ws, "message", {"text": PORT_QUESTION, "model": "stub-slow"})
        await until(ws, "chunk")
    after = await _wait_cancelled(stub, before)
    assert after["streams_cancelled"] == before["streams_cancelled"] + 1
    sent = after["chunks_sent"] - before["chunks_sent"]
    await asyncio.sleep(0.5)  # a stream still running would send ~10 more chunks by now
    assert _stats(stub)["chunks_sent"] - before["chunks_sent"] == sent < 100


async def test_a_turn_may_only_search_the_tokens_projects(server):
    async with connect(ws_url(server), additional_headers=bearer(server, "alpha")) as ws:
        await send(ws, "message", {"text": PORT_QUESTION, "model": "stub-ok", "project_id": "other"})
        refused = await receive(ws)
        assert refused["type"] == "error" and refused["payload"]["status"] == 403 and "other" in refused["payload"]["message"]
        await send(ws, "join", {"room": "r", "project_id": "other"})
        assert (await receive(ws))["payload"]["status"] == 403


async def _no_message_pending(ws: ClientConnection) -> bool:
    """True when the next message is the answer to a ping sent now: nothing else was queued."""
    await send(ws, "ping", {"probe": True})
    return await receive(ws) == {"type": "pong", "payload": {"probe": True}}


async def test_signalling_is_relayed_within_a_room_only(server):
    url = ws_url(server)
    async with (
        connect(url, additional_headers=bearer(server, "both")) as a,
        connect(url, additional_headers=bearer(server, "both")) as b,
        connect(url, additional_headers=bearer(server, "both")) as other_room,
        connect(url, additional_headers=bearer(server, "beta")) as other_project,
    ):
        await send(a, "join", {"room": "salle-1"})
        joined_a = await receive(a)
        assert joined_a["type"] == "joined" and joined_a["payload"]["peers"] == [] and joined_a["payload"]["project_id"] == "default"
        await send(b, "join", {"room": "salle-1"})
        joined_b = await receive(b)
        assert joined_b["payload"]["peers"] == [joined_a["payload"]["peerId"]]
        assert (await receive(a)) == {"type": "peer-joined", "payload": {"room": "salle-1", "peerId": joined_b["payload"]["peerId"]}}
        await send(other_room, "join", {"room": "salle-2"})
        assert (await receive(other_room))["type"] == "joined"
        await send(other_project, "join", {"room": "salle-1"})  # same name, another project: another room
        joined_other = await receive(other_project)
        assert joined_other["payload"]["project_id"] == "other" and joined_other["payload"]["peers"] == []

        offer = {"sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n", "type": "offer"}
        await send(a, "offer", offer)
        assert await receive(b) == {"type": "offer", "payload": {**offer, "from": joined_a["payload"]["peerId"]}}
        await send(b, "answer", {"sdp": "v=0", "type": "answer"})
        assert (await receive(a))["payload"]["from"] == joined_b["payload"]["peerId"]
        await send(a, "ice-candidate", {"candidate": "candidate:1 1 UDP 1 127.0.0.1 5000 typ host", "to": joined_b["payload"]["peerId"]})
        assert (await receive(b))["type"] == "ice-candidate"
        for outsider in (other_room, other_project):
            assert await _no_message_pending(outsider)
        assert await _no_message_pending(a)  # a sender does not get its own signals back

        await send(other_room, "offer", {"sdp": "v=0", "to": joined_b["payload"]["peerId"]})  # a peer of another room
        assert (await receive(other_room))["payload"]["code"] == "unknown_peer"
        assert await _no_message_pending(b)


async def test_signalling_before_join_and_bad_messages_get_errors_and_the_socket_stays_open(server):
    async with connect(ws_url(server), additional_headers=bearer(server)) as ws:
        for raw, code in [
            ("{not json", "malformed_json"),
            ("[1, 2]", "invalid_message"),
            (json.dumps({"type": "teleport", "payload": {}}), "unknown_type"),
            (json.dumps({"type": "ping", "payload": "x"}), "invalid_message"),
            (json.dumps({"type": "message", "payload": {"text": "  "}}), "rejected"),
            (json.dumps({"type": "message", "payload": {"text": "x", "sessionId": "../etc"}}), "rejected"),
            (json.dumps({"type": "message", "payload": {"text": "x", "model": "no-such-model"}}), "rejected"),
            (json.dumps({"type": "message", "payload": {"text": "x", "top_k": 10000}}), "invalid_message"),
            (json.dumps({"type": "offer", "payload": {"sdp": "v=0"}}), "not_joined"),
            (json.dumps({"type": "join", "payload": {"room": ""}}), "invalid_message"),
        ]:
            await ws.send(raw)
            reply = await receive(ws)
            assert reply["type"] == "error" and reply["payload"]["code"] == code, (raw, reply)
        await ws.send(b"\x00binary")
        assert (await receive(ws))["payload"]["code"] == "invalid_message"
        await send(ws, "ping")
        assert (await receive(ws))["type"] == "pong"


async def test_a_second_message_while_a_turn_runs_is_refused(server):
    async with connect(ws_url(server), additional_headers=bearer(server)) as ws:
        await send(ws, "message", {"text": PORT_QUESTION, "model": "stub-slow"})
        await until(ws, "session")
        await send(ws, "message", {"text": PORT_QUESTION, "model": "stub-ok"})
        busy, _ = await until(ws, "error")
        assert busy["payload"]["code"] == "busy"


async def test_a_session_busy_with_another_turn_is_refused_with_409(server):
    headers = bearer(server)
    async with connect(ws_url(server), additional_headers=headers) as first, connect(ws_url(server), additional_headers=headers) as second:
        await send(first, "message", {"text": PORT_QUESTION, "model": "stub-slow"})
        session, _ = await until(first, "session")
        await until(first, "chunk")
        await send(second, "message", {"text": PORT_QUESTION, "model": "stub-ok", "sessionId": session["payload"]["sessionId"]})
        refused = await receive(second)
        assert refused["type"] == "error" and refused["payload"]["status"] == 409
        await send(second, "ping")
        assert (await receive(second))["type"] == "pong"
        await send(first, "cancel")
        assert (await until(first, "cancelled"))[0]["payload"]["cancelled"] is True


def _runs(kinds: list[str]) -> list[str]:
    """The event kinds with consecutive chunks counted once."""
    return [kind for i, kind in enumerate(kinds) if kind != "chunk" or i == 0 or kinds[i - 1] != "chunk"]

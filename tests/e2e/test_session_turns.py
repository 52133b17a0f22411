"""One turn at a time per session, against a real ``routeur serve`` (requests truly concurrent):
by default a second turn gets 409 and no accepted turn is lost; with enqueue, 10 concurrent turns
all answer and the session keeps all 10 user turns. Sessions and their history survive a restart."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.support.api_support import ServerProcess, ingest_demo

CLIENTS = [{"id": "alice", "secret": "a" * 20, "projects": ["default"]}]
PACED = {"name": "paced", "provider": "python", "factory": "nodes.models.testing:paced_model", "options": {"tokens": 20, "delay_s": 0.02}}
BUSY = {"status": "error", "message": "A turn is already running in this session"}


async def _server(settings_factory, name: str, **env: str) -> ServerProcess:
    settings = settings_factory(name)
    await ingest_demo(settings)
    models_file = settings.data_dir / "models.json"
    models_file.write_text(json.dumps([PACED]))
    return ServerProcess(
        settings.data_dir,
        ROUTEUR_EXTRA_MODELS_FILE=str(models_file),
        ROUTEUR_CLIENTS=json.dumps(CLIENTS),
        ROUTEUR_RATE_LIMIT_PER_MINUTE="10000",
        **env,
    ).start()


async def _session(http: httpx.AsyncClient) -> tuple[dict[str, str], str]:
    token = (await http.post("/auth/token", auth=("alice", "a" * 20))).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    first = await http.post("/api/v1/chat", headers=headers, json={"message": "Sur quel port ?", "model": "paced"})
    assert first.status_code == 200, first.text
    return headers, first.json()["sessionId"]


def _turn(http, headers, sid, message):
    return http.post("/api/v1/chat", headers=headers, json={"message": message, "sessionId": sid, "model": "paced"})


async def _user_turns(http, headers, sid) -> list[str]:
    history = (await http.get(f"/api/v1/sessions/{sid}", headers=headers)).json()
    return [m["content"] for m in history["messages"] if m["role"] == "user"]


@pytest.fixture
async def rejecting(settings_factory):
    server = await _server(settings_factory, "reject")
    yield server
    server.stop()


async def test_a_second_turn_while_one_runs_gets_409_and_nothing_is_lost(rejecting):
    async with httpx.AsyncClient(base_url=rejecting.url, timeout=60) as http:
        headers, sid = await _session(http)
        responses = await asyncio.gather(*(_turn(http, headers, sid, f"Tour {i} ?") for i in range(10)))
        statuses = [r.status_code for r in responses]
        assert set(statuses) == {200, 409}, statuses
        assert all(r.json() == BUSY for r in responses if r.status_code == 409)
        accepted = [f"Tour {i} ?" for i, r in enumerate(responses) if r.status_code == 200]
        assert (await _user_turns(http, headers, sid))[1:] == accepted

        # A stream holds the session until it ends; then the session is free again.
        async with http.stream(
            "POST", "/api/v1/chat/stream", headers=headers, json={"message": "En flux ?", "sessionId": sid, "model": "paced"}
        ) as stream:
            assert stream.status_code == 200
            lines = stream.aiter_lines()
            assert (await anext(lines)).startswith("event: session")
            during = await _turn(http, headers, sid, "Pendant ?")
            assert during.status_code == 409 and during.json() == BUSY
            body = "".join([line async for line in lines])
        assert "event: done" in body
        assert (await _turn(http, headers, sid, "Après ?")).status_code == 200

    # History survives a restart of the server.
    rejecting.stop()
    rejecting.start()
    async with httpx.AsyncClient(base_url=rejecting.url, timeout=60) as http:
        token = (await http.post("/auth/token", auth=("alice", "a" * 20))).json()["access_token"]
        turns = await _user_turns(http, {"Authorization": f"Bearer {token}"}, sid)
        assert turns == ["Sur quel port ?", *accepted, "En flux ?", "Après ?"]


async def test_enqueue_keeps_all_ten_concurrent_user_turns(settings_factory):
    server = await _server(settings_factory, "enqueue", ROUTEUR_TURN_CONFLICT="enqueue", ROUTEUR_TURN_WAIT_S="120")
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=180) as http:
            headers, sid = await _session(http)
            asked = [f"Question {i} ?" for i in range(10)]
            responses = await asyncio.gather(*(_turn(http, headers, sid, q) for q in asked))
            assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses if r.status_code != 200]
            turns = await _user_turns(http, headers, sid)
            assert len(turns) == 11 and sorted(turns[1:]) == sorted(asked)
            history = (await http.get(f"/api/v1/sessions/{sid}", headers=headers)).json()
            answer_ids = [m["id"] for m in history["messages"] if m["role"] == "assistant"]
            assert set(answer_ids[1:]) == {r.json()["messageId"] for r in responses}
    finally:
        server.stop()


async def test_enqueue_gives_up_after_its_bound(settings_factory):
    server = await _server(settings_factory, "bound", ROUTEUR_TURN_CONFLICT="enqueue", ROUTEUR_TURN_WAIT_S="0.2")
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            headers, sid = await _session(http)
            responses = await asyncio.gather(*(_turn(http, headers, sid, f"Q{i} ?") for i in range(4)))
            late = [r for r in responses if r.status_code == 409]
            assert late and all(r.json()["message"].startswith(BUSY["message"]) for r in late)
            assert len(await _user_turns(http, headers, sid)) == 1 + sum(r.status_code == 200 for r in responses)
    finally:
        server.stop()

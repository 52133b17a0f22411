"""Conversations over HTTP (in-process): list, read, rename, delete, feedback, message ids, UTF-8
form bodies, tokens per second and published energy figures. Concurrent turns need a real
server: tests/e2e/test_session_turns.py."""

from __future__ import annotations

import json

import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from tests.support.api_support import ingest_demo, sse_events

QUESTION = "Sur quel port le serveur écoute-t-il par défaut ?"
CLIENTS = [
    {"id": "alice", "secret": "a" * 20, "projects": ["default"]},
    {"id": "bob", "secret": "b" * 20, "projects": ["default"]},
]
# A model that takes ~0.4 s to answer, so concurrent turns really overlap; it publishes its energy.
PACED = {
    "name": "paced",
    "provider": "python",
    "factory": "nodes.models.testing:paced_model",
    "options": {"tokens": 20, "delay_s": 0.02},
    "energy_kwh_per_mtok": 2.5,
}


@pytest.fixture(scope="module")
async def demo(settings_factory):
    settings = settings_factory("conversations", rate_limit_per_minute=10_000, clients=CLIENTS, electricity_mix_zone="FRA")
    models_file = settings.data_dir / "models.json"
    models_file.write_text(json.dumps([PACED]))
    settings = settings.model_copy(update={"extra_models_file": models_file})
    await ingest_demo(settings)
    return settings


@pytest.fixture(scope="module")
async def client(demo):
    async with AsyncTestClient(create_app(demo), timeout=60) as test_client:
        yield test_client


async def _auth(client, who: str) -> dict[str, str]:
    response = await client.post("/auth/token", auth=(who, who[0] * 20))
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="module")
async def alice(client):
    return await _auth(client, "alice")


@pytest.fixture(scope="module")
async def bob(client):
    return await _auth(client, "bob")


async def _ask(client, headers, message, **fields):
    response = await client.post("/api/v1/chat", headers=headers, json={"message": message, **fields})
    assert response.status_code == 200, response.text
    return response.json()


async def test_history_titles_ids_and_dates(client, alice):
    first = await _ask(client, alice, QUESTION)
    second = await _ask(client, alice, "Et quel code HTTP signale une limite ?", sessionId=first["sessionId"])
    assert first["messageId"] != second["messageId"]

    session = (await client.get(f"/api/v1/sessions/{first['sessionId']}", headers=alice)).json()
    assert session["sessionId"] == first["sessionId"] and session["title"] == QUESTION
    assert [m["role"] for m in session["messages"]] == ["user", "assistant", "user", "assistant"]
    answer = session["messages"][1]
    assert answer["id"] == first["messageId"] and answer["content"] == first["content"]
    assert answer["agent"] == "V2" and answer["model"] == "local-extractive"
    assert [s["file_id"] for s in answer["sources"]] == [s["file_id"] for s in first["sources"]]
    assert session["messages"][3]["id"] == second["messageId"]
    assert session["messages"][0]["content"] == QUESTION
    assert session["messages"][0]["created_at"] <= answer["created_at"] <= session["messages"][2]["created_at"]
    assert session["created_at"] < session["updated_at"]


async def test_list_is_newest_first_and_paginated(client, settings_factory):
    headers = await _auth(client, "bob")
    # Bob's own sessions only: start from what he has.
    before = (await client.get("/api/v1/sessions", headers=headers)).json()["total"]
    made = [(await _ask(client, headers, f"Question numéro {i} sur les agents ?"))["sessionId"] for i in range(3)]
    page1 = (await client.get("/api/v1/sessions?page=1&page_size=2", headers=headers)).json()
    page2 = (await client.get("/api/v1/sessions?page=2&page_size=2", headers=headers)).json()
    assert page1["total"] == page2["total"] == before + 3
    assert page1["page"] == 1 and page1["page_size"] == 2 and len(page1["sessions"]) == 2
    assert [s["sessionId"] for s in page1["sessions"]] == made[::-1][:2]
    assert page2["sessions"][0]["sessionId"] == made[0]
    assert page1["sessions"][0]["title"] == "Question numéro 2 sur les agents ?" and page1["sessions"][0]["messages"] == 2
    bad = await client.get("/api/v1/sessions?page=0", headers=headers)
    assert bad.status_code == 400 and bad.json()["status"] == "error"


async def test_another_token_gets_404_everywhere(client, alice, bob):
    mine = await _ask(client, alice, QUESTION)
    sid, mid = mine["sessionId"], mine["messageId"]
    listed = (await client.get("/api/v1/sessions?page_size=200", headers=bob)).json()
    assert sid not in {s["sessionId"] for s in listed["sessions"]}
    for response in (
        await client.get(f"/api/v1/sessions/{sid}", headers=bob),
        await client.patch(f"/api/v1/sessions/{sid}", headers=bob, json={"title": "volé"}),
        await client.delete(f"/api/v1/sessions/{sid}", headers=bob),
        await client.post(f"/api/v1/messages/{mid}/feedback", headers=bob, json={"rating": "dislike"}),
    ):
        assert response.status_code == 404 and response.json()["status"] == "error"
    # Alice's session is untouched.
    still = (await client.get(f"/api/v1/sessions/{sid}", headers=alice)).json()
    assert still["title"] == QUESTION and len(still["messages"]) == 2 and "feedback" not in still["messages"][1]
    assert (await client.get("/api/v1/sessions/unknown-session", headers=alice)).status_code == 404
    assert (await client.get("/api/v1/sessions", headers={})).status_code == 401


async def test_rename_and_delete(client, alice):
    sid = (await _ask(client, alice, QUESTION))["sessionId"]
    renamed = await client.patch(f"/api/v1/sessions/{sid}", headers=alice, json={"title": "  Le port   du serveur "})
    assert renamed.status_code == 200 and renamed.json()["title"] == "Le port du serveur"
    assert (await client.get(f"/api/v1/sessions/{sid}", headers=alice)).json()["title"] == "Le port du serveur"
    blank = await client.patch(f"/api/v1/sessions/{sid}", headers=alice, json={"title": "   "})
    assert blank.status_code == 400

    deleted = await client.delete(f"/api/v1/sessions/{sid}", headers=alice)
    assert deleted.status_code == 200 and deleted.json() == {"sessionId": sid, "deleted": True}
    assert (await client.get(f"/api/v1/sessions/{sid}", headers=alice)).status_code == 404
    assert (await client.delete(f"/api/v1/sessions/{sid}", headers=alice)).status_code == 404
    thread = {"configurable": {"thread_id": f"alice:{sid}"}}
    assert (await client.app.state.graphs.sessions["V2"].aget_state(thread)).values == {}


async def test_feedback_replaces_and_shows_in_history(client, alice):
    answer = await _ask(client, alice, QUESTION)
    url = f"/api/v1/messages/{answer['messageId']}/feedback"
    liked = await client.post(url, headers=alice, json={"rating": "like", "comment": "Précis"})
    assert liked.status_code == 200
    assert liked.json()["rating"] == "like" and liked.json()["comment"] == "Précis" and liked.json()["messageId"] == answer["messageId"]
    changed = (await client.post(url, headers=alice, json={"rating": "dislike"})).json()
    assert changed["rating"] == "dislike" and changed["comment"] is None
    history = (await client.get(f"/api/v1/sessions/{answer['sessionId']}", headers=alice)).json()
    assert history["messages"][1]["feedback"]["rating"] == "dislike"
    cleared = (await client.post(url, headers=alice, json={"rating": None})).json()
    assert cleared["rating"] is None
    bad = await client.post(url, headers=alice, json={"rating": "love"})
    assert bad.status_code == 400 and bad.json()["status"] == "error"
    assert (await client.post("/api/v1/messages/nope/feedback", headers=alice, json={"rating": "like"})).status_code == 404


async def test_stream_done_event_carries_the_message_id(client, alice):
    response = await client.post("/api/v1/chat/stream", headers=alice, json={"message": QUESTION})
    events = sse_events(response.text)
    done = next(data for name, data in events if name == "done")
    session = next(data for name, data in events if name == "session")
    history = (await client.get(f"/api/v1/sessions/{session['sessionId']}", headers=alice)).json()
    assert history["messages"][1]["id"] == done["messageId"]
    completion = await client.post("/completion", headers=alice, json={"message": QUESTION, "stream": True})
    final = [data for _, data in sse_events(completion.text) if data["done"]][-1]
    assert len(final["metadata"]["messageId"]) == 36


async def test_raw_utf8_form_bodies_arrive_intact(client, alice):
    for content_type in ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=utf-8"):
        body = "message=Quelle durée de vie a un jeton ?".encode()
        response = await client.post("/api/v1/chat", headers={**alice, "Content-Type": content_type}, content=body)
        assert response.status_code == 200, response.text
        history = (await client.get(f"/api/v1/sessions/{response.json()['sessionId']}", headers=alice)).json()
        assert history["messages"][0]["content"] == "Quelle durée de vie a un jeton ?"
    latin1 = await client.post(
        "/api/v1/chat",
        headers={**alice, "Content-Type": "application/x-www-form-urlencoded; charset=iso-8859-1"},
        content="message=Quelle durée ?".encode("latin-1"),
    )
    assert latin1.status_code == 200
    history = (await client.get(f"/api/v1/sessions/{latin1.json()['sessionId']}", headers=alice)).json()
    assert history["messages"][0]["content"] == "Quelle durée ?"
    broken = await client.post(
        "/api/v1/chat", headers={**alice, "Content-Type": "application/x-www-form-urlencoded"}, content=b"message=\xff\xfe"
    )
    assert broken.status_code == 400 and broken.json()["status"] == "error"


async def test_published_energy_becomes_emissions_with_the_mix(client, alice):
    from ecologits.electricity_mix_repository import electricity_mixes

    metadata = (await _ask(client, alice, QUESTION, model="paced"))["metadata"]
    output = metadata["usage_by_model"]["paced"]["output_tokens"]
    energy = output * 2.5 / 1_000_000
    assert metadata["energy_kWh"] == pytest.approx(energy, rel=1e-3)
    gwp = electricity_mixes.find_electricity_mix("FRA").gwp
    assert metadata["emissions_kgCO2eq"] == pytest.approx(energy * gwp, rel=1e-3)
    assert metadata["electricity_mix_zone"] == "FRA" and metadata["equivalences"]["car_km"] is not None
    # 20 tokens paced over ~0.4 s: a measurable generation, so a real rate.
    assert 10 < metadata["tokens_per_second"] < 1000


async def test_clear_removes_the_session_from_the_list(client, alice):
    sid = (await _ask(client, alice, QUESTION))["sessionId"]
    cleared = await client.post("/api/v1/chat", headers=alice, data={"sessionId": sid, "clear": "true"})
    assert cleared.json()["cleared"] is True
    assert (await client.get(f"/api/v1/sessions/{sid}", headers=alice)).status_code == 404

"""Conversations on Postgres (ROUTEUR_POSTGRES_URL): the metadata lives in the sessions' database
(so every replica lists the same sessions), history survives an app restart, and the turn lock is
a Postgres advisory lock that two workers — two connections — share."""

from __future__ import annotations

import asyncio

import pytest
from litestar.testing import AsyncTestClient
from pydantic import SecretStr

from api.app import create_app
from api.services.turn_locks import BUSY, PostgresTurnLocks, TurnBusyError
from tests.e2e.test_postgres_sessions import postgres_url  # noqa: F401 - the cluster fixture
from tests.support.api_support import ingest_demo

QUESTION = "Sur quel port le serveur écoute-t-il ?"


async def test_metadata_and_history_live_in_postgres_across_restarts(settings_factory, postgres_url):  # noqa: F811
    settings = settings_factory("pg-conversations", postgres_url=SecretStr(postgres_url), rate_limit_per_minute=1000)
    await ingest_demo(settings)
    async with AsyncTestClient(create_app(settings), timeout=60) as client:
        headers = {"Authorization": f"Bearer {(await client.post('/auth/token')).json()['access_token']}"}
        answer = (await client.post("/api/v1/chat", headers=headers, json={"message": QUESTION})).json()
        rated = await client.post(f"/api/v1/messages/{answer['messageId']}/feedback", headers=headers, json={"rating": "like"})
        assert rated.status_code == 200
    assert not settings.resolved_conversations_path().exists()  # nothing went to SQLite

    async with AsyncTestClient(create_app(settings), timeout=60) as client:
        headers = {"Authorization": f"Bearer {(await client.post('/auth/token')).json()['access_token']}"}
        listed = (await client.get("/api/v1/sessions", headers=headers)).json()
        assert answer["sessionId"] in {s["sessionId"] for s in listed["sessions"]}
        history = (await client.get(f"/api/v1/sessions/{answer['sessionId']}", headers=headers)).json()
        assert history["title"] == QUESTION
        assert history["messages"][1]["id"] == answer["messageId"] and history["messages"][1]["feedback"]["rating"] == "like"
        renamed = await client.patch(f"/api/v1/sessions/{answer['sessionId']}", headers=headers, json={"title": "Port"})
        assert renamed.json()["title"] == "Port"
        assert (await client.delete(f"/api/v1/sessions/{answer['sessionId']}", headers=headers)).status_code == 200
        assert (await client.get(f"/api/v1/sessions/{answer['sessionId']}", headers=headers)).status_code == 404


async def test_the_advisory_lock_holds_across_workers(postgres_url):  # noqa: F811
    worker_a = PostgresTurnLocks(postgres_url, enqueue=False, wait_s=5)
    worker_b = PostgresTurnLocks(postgres_url, enqueue=False, wait_s=5)
    lease = await worker_a.acquire("user:s1")
    with pytest.raises(TurnBusyError) as busy:
        await worker_b.acquire("user:s1")
    assert busy.value.status_code == 409 and busy.value.detail == BUSY
    other = await worker_b.acquire("user:s2")  # another session is free
    await other.release()
    await lease.release()
    again = await worker_b.acquire("user:s1")
    await again.release()

    # enqueue: the second worker waits for the first, within its bound.
    waiting = PostgresTurnLocks(postgres_url, enqueue=True, wait_s=10)
    lease = await worker_a.acquire("user:s1")
    pending = asyncio.create_task(waiting.acquire("user:s1"))
    await asyncio.sleep(0.3)
    assert not pending.done()
    await lease.release()
    await (await asyncio.wait_for(pending, 10)).release()

    impatient = PostgresTurnLocks(postgres_url, enqueue=True, wait_s=0.2)
    lease = await worker_a.acquire("user:s1")
    with pytest.raises(TurnBusyError, match="still running"):
        await impatient.acquire("user:s1")
    await lease.release()

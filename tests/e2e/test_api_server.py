"""Against a real ``routeur serve`` process, with a real OpenAI-compatible provider (a local
stub server): streams as clients parse them, disconnects, provider failures, restarts."""

from __future__ import annotations

import time

import httpx
import pytest
from httpx_sse import connect_sse

from tests.support.api_support import start_demo_server
from tests.support.openai_stub import StubServer

PORT_QUESTION = "Sur quel port le serveur écoute-t-il par défaut ?"


@pytest.fixture(scope="module")
async def server(settings_factory, stub):
    process = await start_demo_server(settings_factory("server"), stub.models_file_entries(), ROUTEUR_RATE_LIMIT_PER_MINUTE="1000")
    yield process
    process.stop()


def _stats(stub: StubServer) -> dict[str, int]:
    return httpx.get(f"http://127.0.0.1:{stub.port}/stats", timeout=5).json()


def test_chat_stream_as_a_client_parses_it(server):
    with httpx.Client(base_url=server.url, headers=server.token(), timeout=30) as client:
        with connect_sse(client, "POST", "/api/v1/chat/stream", data={"message": PORT_QUESTION}) as source:
            received = [(sse.event, sse.json()) for sse in source.iter_sse()]
    names = [name for name, _ in received]
    assert names[0] == "session" and names[-1] == "done" and "error" not in names
    assert "7860" in "".join(data["content"] for name, data in received if name == "chunk")


def test_openai_compatible_provider_streams_through_the_api(server, stub):
    with httpx.Client(base_url=server.url, headers=server.token(), timeout=30) as client:
        response = client.post("/completion", json={"message": PORT_QUESTION, "model": "stub-ok"})
    body = response.json()
    assert response.status_code == 200 and body["response"] == "Le service écoute sur le port 7860 [1]."
    assert body["model"] == "stub-ok"
    usage = body["metadata"]["usage_by_model"]["stub-ok"]
    answer_words = len(body["response"].split())
    assert usage["input_tokens"] == 20 + 20 + 30 and usage["output_tokens"] == 5 + 5 + answer_words  # intent, grading, answer
    expected = (usage["input_tokens"] * 1.0 + usage["output_tokens"] * 2.0) / 1e6  # the stub's prices in models.json
    assert body["metadata"]["pricing"]["by_model"]["stub-ok"]["total"] == pytest.approx(expected, abs=1e-6)


def test_provider_failure_mid_stream_gives_an_error_event_and_a_clean_end(server):
    headers = server.token()
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        with connect_sse(client, "POST", "/api/v1/chat/stream", data={"message": PORT_QUESTION, "model": "stub-fail"}) as source:
            received = [(sse.event, sse.json()) for sse in source.iter_sse()]
        names = [name for name, _ in received]
        assert names[-1] == "error" and "done" not in names
        assert "".join(data["content"] for name, data in received if name == "chunk").split() == ["un", "deux", "trois"]
        assert received[-1][1]["phase"] == "generation" and "LLM request failed" in received[-1][1]["message"]

        failed = client.post("/completion", json={"message": PORT_QUESTION, "model": "stub-fail"})
        assert failed.status_code == 502 and failed.json()["status"] == "error"
        assert client.post("/completion", json={"message": PORT_QUESTION}).status_code == 200


def test_client_disconnect_cancels_the_upstream_model_stream(server, stub):
    before = _stats(stub)
    with httpx.Client(base_url=server.url, headers=server.token(), timeout=30) as client:
        with connect_sse(client, "POST", "/api/v1/chat/stream", data={"message": PORT_QUESTION, "model": "stub-slow"}) as source:
            for sse in source.iter_sse():
                if sse.event == "chunk":
                    break
    deadline = time.monotonic() + 10
    while _stats(stub)["streams_cancelled"] == before["streams_cancelled"] and time.monotonic() < deadline:
        time.sleep(0.1)
    after = _stats(stub)
    assert after["streams_cancelled"] == before["streams_cancelled"] + 1
    sent = after["chunks_sent"] - before["chunks_sent"]
    time.sleep(0.5)  # a stream still running would send ~10 more chunks by now
    assert _stats(stub)["chunks_sent"] - before["chunks_sent"] == sent < 100
    assert _stats(stub)["streams_finished"] == before["streams_finished"]


def test_sessions_survive_a_server_restart(server):
    with httpx.Client(base_url=server.url, headers=server.token(), timeout=30) as client:
        first = client.post("/api/v1/chat", data={"message": PORT_QUESTION}).json()
    server.stop()
    server.start()
    with httpx.Client(base_url=server.url, headers=server.token(), timeout=30) as client:
        with connect_sse(
            client, "POST", "/api/v1/chat/stream", data={"message": "Et le code HTTP ?", "sessionId": first["sessionId"]}
        ) as source:
            received = [(sse.event, sse.json()) for sse in source.iter_sse()]
    intent = next(data for name, data in received if name == "phase" and data.get("status") == "complete")
    assert intent["intent"] == "follow_up"  # the previous turn came back from the checkpointer
    assert received[0][1]["sessionId"] == first["sessionId"]

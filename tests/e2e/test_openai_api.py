"""The OpenAI-compatible API against a real ``routeur serve`` process, through the clients people
use: the official ``openai`` SDK and LangChain's ``ChatOpenAI``. The agents' model is the local
OpenAI-compatible stub (deterministic answer, counters for cancellation)."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_openai import ChatOpenAI

from tests.support.api_support import start_demo_server

PORT_QUESTION = "Sur quel port le serveur écoute-t-il par défaut ?"
STUB_ANSWER = "Le service écoute sur le port 7860 [1]."
CLIENTS = [
    {"id": "alpha", "secret": "alpha-secret-0123456789", "projects": ["default"]},
    {"id": "beta", "secret": "beta-secret-0123456789ab", "projects": ["other"]},
]


@pytest.fixture(scope="module")
async def server(settings_factory, stub):
    process = await start_demo_server(
        settings_factory("openai-api"), stub.models_file_entries(), ROUTEUR_RATE_LIMIT_PER_MINUTE="1000", ROUTEUR_CLIENTS=json.dumps(CLIENTS)
    )
    yield process
    process.stop()


def api_key(server, client_id: str = "alpha") -> str:
    """An OpenAI client's API key is our bearer token."""
    client = next(c for c in CLIENTS if c["id"] == client_id)
    response = httpx.post(f"{server.url}/auth/token", json={"client_id": client["id"], "client_secret": client["secret"]}, timeout=10)
    return response.json()["access_token"]


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=api_key(server), max_retries=0, timeout=60)


def _stats(stub) -> dict[str, int]:
    return httpx.get(f"http://127.0.0.1:{stub.port}/stats", timeout=5).json()


def test_models_lists_the_agents_and_their_model_variants(client):
    ids = [m.id for m in client.models.list()]
    assert {"routeur-v1", "routeur-v2", "routeur-v2:stub-ok", "routeur-v1:stub-ok", "routeur-v2:local-extractive"} <= set(ids)
    assert "routeur-v2:gpt-4o" not in ids  # no OpenAI key on this server: not runnable, not listed
    assert client.models.retrieve("routeur-v2:stub-ok").id == "routeur-v2:stub-ok"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("routeur-v3")


def test_sdk_completion_with_usage_sources_and_phases(client):
    completion = client.chat.completions.create(
        model="routeur-v2:stub-ok", messages=[{"role": "user", "content": PORT_QUESTION}], temperature=0
    )
    assert completion.object == "chat.completion" and completion.model == "routeur-v2:stub-ok"
    assert completion.choices[0].message.content == STUB_ANSWER and completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert usage.completion_tokens >= len(STUB_ANSWER.split()) and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    extension = completion.model_extra["routeur"]
    assert extension["agent"] == "V2" and extension["model"] == "stub-ok"
    assert extension["sources"][0]["id"] == 1 and "7860" in extension["sources"][0]["snippet"]
    assert [p["phase"] for p in extension["phases"] if p["status"] == "start"][0] == "intent_analysis"
    assert extension["metadata"]["usage"]["output_tokens"] == usage.completion_tokens
    assert completion.id == f"chatcmpl-{extension['messageId']}"


def test_sdk_stream_chunks_usage_and_done(client):
    stream = client.chat.completions.create(
        model="routeur-v1:stub-ok",
        messages=[{"role": "user", "content": PORT_QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == STUB_ANSWER
    finishing = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finishing) == 1 and finishing[0].choices[0].finish_reason == "stop"
    assert finishing[0].model_extra["routeur"]["event"] == "done"
    *rest, last = chunks
    assert last.choices == [] and last.usage.completion_tokens >= len(STUB_ANSWER.split())
    assert all(c.usage is None for c in rest)
    extensions = [c.model_extra.get("routeur") for c in rest if c.model_extra.get("routeur")]
    kinds = [e["event"] for e in extensions]
    assert kinds[0] == "phase" and "sources" in kinds and kinds[-1] == "done"
    sources = next(e for e in extensions if e["event"] == "sources")["data"]["sources"]
    assert sources[0]["id"] == 1


def test_stream_without_include_usage_has_no_usage_chunk(client):
    chunks = list(client.chat.completions.create(model="routeur-v2:stub-ok", messages=[{"role": "user", "content": PORT_QUESTION}], stream=True))
    assert chunks[-1].choices and chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_max_tokens_truncates_the_answer_with_finish_reason_length(client):
    completion = client.chat.completions.create(
        model="routeur-v2:stub-ok", messages=[{"role": "user", "content": PORT_QUESTION}], max_tokens=2
    )
    assert completion.choices[0].finish_reason == "length" and completion.choices[0].message.content == "Le service"
    chunks = list(client.chat.completions.create(model="routeur-v2:stub-ok", messages=[{"role": "user", "content": PORT_QUESTION}], max_tokens=3, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Le service écoute"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["length"]


def test_sdk_errors_in_openai_shape(server, client):
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert unknown.value.status_code == 404 and unknown.value.code == "model_not_found"
    assert "routeur-v2" in unknown.value.body["message"]

    anonymous = openai.OpenAI(base_url=f"{server.url}/v1", api_key="not-a-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        anonymous.chat.completions.create(model="routeur-v2", messages=[{"role": "user", "content": "x"}])
    assert refused.value.status_code == 401 and refused.value.code == "invalid_api_key"

    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="routeur-v2", messages=[{"role": "assistant", "content": "x"}])
    assert bad.value.code == "invalid_request" and "last message" in bad.value.body["message"]

    with pytest.raises(openai.PermissionDeniedError) as forbidden:
        client.chat.completions.create(model="routeur-v2", messages=[{"role": "user", "content": "x"}], extra_body={"metadata": {"project_id": "other"}})
    assert forbidden.value.status_code == 403


def test_provider_failure_mid_stream_is_raised_by_the_sdk(client):
    stream = client.chat.completions.create(model="routeur-v2:stub-fail", messages=[{"role": "user", "content": PORT_QUESTION}], stream=True)
    received = []
    with pytest.raises(openai.APIError) as failed:
        for chunk in stream:
            received.append(chunk)
    assert "LLM request failed" in failed.value.message
    assert "".join(c.choices[0].delta.content or "" for c in received if c.choices) == "un deux trois"
    with pytest.raises(openai.InternalServerError) as whole:
        client.chat.completions.create(model="routeur-v2:stub-fail", messages=[{"role": "user", "content": PORT_QUESTION}])
    assert whole.value.status_code == 502 and whole.value.code == "upstream_error"


def test_project_and_sources_extension_fields_scope_the_search(server, client):
    # V1: V2 would reformulate a search that finds nothing, which the stub provider does not script
    beta = openai.OpenAI(base_url=f"{server.url}/v1", api_key=api_key(server, "beta"), max_retries=0)
    empty = beta.chat.completions.create(model="routeur-v1:stub-ok", messages=[{"role": "user", "content": PORT_QUESTION}])
    assert empty.model_extra["routeur"]["sources"] == []  # project "other" has no documents: nothing of "default" leaks

    scoped = client.chat.completions.create(
        model="routeur-v1:stub-ok", messages=[{"role": "user", "content": PORT_QUESTION}], extra_body={"sources": ["no-such-file"]}
    )
    assert scoped.model_extra["routeur"]["sources"] == []


def test_disconnecting_a_stream_cancels_the_run_upstream(client, stub):
    before = _stats(stub)
    stream = client.chat.completions.create(model="routeur-v2:stub-slow", messages=[{"role": "user", "content": PORT_QUESTION}], stream=True)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    stream.close()
    deadline = time.monotonic() + 10
    while _stats(stub)["streams_cancelled"] == before["streams_cancelled"] and time.monotonic() < deadline:
        time.sleep(0.1)
    after = _stats(stub)
    assert after["streams_cancelled"] == before["streams_cancelled"] + 1
    assert after["streams_finished"] == before["streams_finished"]


def test_langchain_chat_openai_invoke_stream_and_error(server):
    llm = ChatOpenAI(base_url=f"{server.url}/v1", api_key=api_key(server), model="routeur-v2:stub-ok", stream_usage=True, max_retries=0)
    answer = llm.invoke([HumanMessage("Bonjour"), AIMessage("Bonjour, que cherchez-vous ?"), HumanMessage(PORT_QUESTION)])
    assert answer.content == STUB_ANSWER
    assert answer.usage_metadata["output_tokens"] >= len(STUB_ANSWER.split())
    assert answer.response_metadata["model_name"] == "routeur-v2:stub-ok"

    chunks = list(llm.stream(PORT_QUESTION))
    assert "".join(c.content for c in chunks) == STUB_ANSWER
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    assert total.usage_metadata["total_tokens"] == total.usage_metadata["input_tokens"] + total.usage_metadata["output_tokens"] > 0

    with pytest.raises(openai.NotFoundError):
        ChatOpenAI(base_url=f"{server.url}/v1", api_key=api_key(server), model="routeur-v9", max_retries=0).invoke("x")

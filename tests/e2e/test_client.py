"""The Python client (``routeur.client``) against a real ``routeur serve`` and the stub provider:
typed results and errors, both stream protocols, token renewal, 429 handling, batches whose
concurrency is measured on the provider's side, and early stream closing that reaches the provider."""

from __future__ import annotations

import inspect
import json
import time
import typing

import httpx
import jwt
import pytest

from routeur.client import (
    AsyncRouteurClient,
    AuthenticationError,
    BadRequestError,
    ChatAnswer,
    ChatOptions,
    Completion,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RouteurClient,
    RouteurConnectionError,
    SearchResult,
    ServerError,
    UnsupportedMediaTypeError,
)
from tests.support.api_support import ServerProcess, free_port, start_demo_server
from tests.support.openai_stub import StubServer

PORT_QUESTION = "Sur quel port le serveur écoute-t-il par défaut ?"
STUB_ANSWER = "Le service écoute sur le port 7860 [1]."
TEAM = {"id": "team-a", "secret": "team-a-secret-0123456789", "projects": ["default", "team-a"]}
NOTE = b"# Coffre\n\nLe mot de passe du coffre fort est zebulon-quarante-deux, change chaque lundi.\n"


@pytest.fixture(scope="module")
async def server(settings_factory, stub):
    settings = settings_factory("client")
    process = await start_demo_server(
        settings, stub.models_file_entries(), ROUTEUR_RATE_LIMIT_PER_MINUTE="1000", ROUTEUR_CLIENTS=json.dumps([TEAM])
    )
    process.data_dir = settings.data_dir
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(server):
    with RouteurClient(server.url, timeout=30) as sync_client:
        yield sync_client


def _stub_stats(stub: StubServer) -> dict[str, int]:
    return httpx.get(f"http://127.0.0.1:{stub.port}/stats", timeout=5).json()


def _check_stream(events: list[dict], *, first: str) -> dict:
    """The protocol every stream keeps; returns the ``done`` event's data."""
    names = [e["event"] for e in events]
    assert names[0] == first and names[-1] == "done" and "error" not in names
    assert names.count("done") == 1
    done = events[-1]["data"]
    assert "".join(e["data"]["content"] for e in events if e["event"] == "chunk") == done["answer"]
    assert {"latency_s", "usage", "model", "agent"} <= done["metadata"].keys()
    return done


# -- auth, catalog ---------------------------------------------------------------------------


def test_sync_client_gets_a_development_token_and_verifies_it(client):
    claims = client.verify()
    assert claims.valid and claims.sub == "user" and claims.projects == ["default"]
    assert claims.exp > time.time()
    info = client.authenticate()
    assert info.token_type == "bearer" and info.expires_in == 3600 and client.token == info.access_token


async def test_async_client_uses_client_credentials_as_basic_auth(server):
    async with AsyncRouteurClient(server.url, client_id=TEAM["id"], client_secret=TEAM["secret"]) as team:
        claims = await team.verify()
    assert claims.sub == "team-a" and claims.projects == ["default", "team-a"]
    async with AsyncRouteurClient(server.url, client_id=TEAM["id"], client_secret="wrong-secret-0123456789") as wrong:
        with pytest.raises(AuthenticationError) as caught:
            await wrong.models()
    assert caught.value.status_code == 401 and caught.value.message == "Invalid client credentials"


async def test_health_models_and_agents_sync_and_async(server, client):
    async with AsyncRouteurClient(server.url) as async_client:
        models, agents, health = await async_client.models(), await async_client.agents(), await async_client.health()
        ready = await async_client.ready()
    assert health.status == "healthy" and ready.ready and ready.checks["vector_store"].ok
    names = {m.name for m in models}
    assert {"local-extractive", "stub-ok", "stub-paced"} <= names
    assert {a.name for a in agents} == {"V1", "V2"} and all(a.available for a in agents)
    assert client.models() == models and client.agents() == agents  # run inside a running loop, as in Jupyter


# -- completion and chat ---------------------------------------------------------------------


def test_sync_complete_returns_a_typed_completion(client):
    answer = client.complete(PORT_QUESTION)
    assert isinstance(answer, Completion) and "7860" in answer.response
    assert answer.agent == "V2" and answer.model == "local-extractive"
    assert answer.sources and answer.sources[0].file_id and answer.sources[0].id == 1
    assert answer.metadata["message_count"] == 2 and "latency_s" in answer.metadata


async def test_async_complete_with_history_through_the_provider(server):
    async with AsyncRouteurClient(server.url) as async_client:
        answer = await async_client.complete(
            PORT_QUESTION, model="stub-ok", agent="V1", history=[("user", "Bonjour"), {"role": "assistant", "content": "Bonjour !"}]
        )
    assert answer.response == STUB_ANSWER and answer.agent == "V1" and answer.model == "stub-ok"
    assert answer.metadata["message_count"] == 4
    assert answer.usage.completion_tokens > 0 and answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens


def test_sync_complete_stream_maps_the_data_lines_onto_the_event_protocol(client):
    events = list(client.complete_stream(PORT_QUESTION, model="stub-ok"))
    done = _check_stream(events, first="chunk")
    assert set(e["event"] for e in events) == {"chunk", "done"}
    assert done["answer"] == STUB_ANSWER and done["metadata"]["model"] == "stub-ok"
    assert done["sources"] == done["metadata"]["sources"] and done["sources"][0]["id"] == 1


async def test_async_chat_stream_yields_typed_events_in_server_order(server):
    async with AsyncRouteurClient(server.url) as async_client:
        events = [e async for e in async_client.chat_stream(PORT_QUESTION)]
    done = _check_stream(events, first="session")
    assert "7860" in done["answer"] and done["sessionId"] == events[0]["data"]["sessionId"]
    phases = [(e["data"]["phase"], e["data"]["status"]) for e in events if e["event"] == "phase"]
    assert phases[0] == ("intent_analysis", "start") and ("generation", "complete") in phases
    assert done["htmlContent"] and done["metadata"]["agent"] == "V2"
    assert [e["event"] for e in events].index("phase") < [e["event"] for e in events].index("chunk")


def test_sync_chat_keeps_a_session_then_clears_it(client):
    def intent(events):
        return next(e["data"]["intent"] for e in events if e["event"] == "phase" and e["data"]["status"] == "complete")

    first = client.chat(PORT_QUESTION)
    assert isinstance(first, ChatAnswer) and "7860" in first.content and first.sources
    follow = list(client.chat_stream("Et le code HTTP ?", session_id=first.session_id))
    assert follow[0]["data"]["sessionId"] == first.session_id and intent(follow) == "follow_up"
    second = client.chat("Et la limite de requêtes ?", session_id=first.session_id)
    assert second.session_id == first.session_id and second.metadata["model"] == "local-extractive"
    client.clear_session(first.session_id)
    fresh = list(client.chat_stream("Et le code HTTP ?", session_id=first.session_id))
    assert intent(fresh) != "follow_up"  # the history is gone


# -- documents, upload sessions, search ------------------------------------------------------


def test_sync_documents_upload_list_get_search_delete(client):
    uploaded = client.upload_documents("default", ("coffre.md", NOTE), title="Le coffre")
    [file] = uploaded.files
    assert file.ok and file.chunks >= 1 and file.title == "Le coffre" and not uploaded.failed
    listing = client.list_documents("default", page=1, page_size=1)
    assert listing.total >= 2 and len(listing.items) == 1 and listing.has_next
    assert file.file_id in {d.file_id for d in client.iter_documents("default", page_size=2)}
    assert client.get_document("default", file.file_id).title == "Le coffre"
    found = client.search("default", "mot de passe du coffre zebulon", top_k=3)
    assert isinstance(found, SearchResult) and found.hits[0].file_id == file.file_id and "zebulon" in found.hits[0].text
    assert client.delete_document("default", file.file_id) == file.chunks
    with pytest.raises(NotFoundError) as caught:
        client.get_document("default", file.file_id)
    assert file.file_id in caught.value.message


async def test_async_upload_of_several_paths_reports_each_file(server, tmp_path):
    good, bad = tmp_path / "notes.md", tmp_path / "setup.exe"
    good.write_bytes(NOTE)
    bad.write_bytes(b"MZ\x90\x00")
    async with AsyncRouteurClient(server.url) as async_client:
        result = await async_client.upload_documents("default", [good, bad])
        with pytest.raises(UnsupportedMediaTypeError) as caught:
            await async_client.upload_documents("default", bad)
        await async_client.delete_document("default", result.files[0].file_id)
    assert [f.ok for f in result.files] == [True, False]
    assert result.failed[0].status_code == 415 and "setup.exe" in result.failed[0].message
    assert caught.value.status_code == 415 and caught.value.message.startswith("Unsupported file type for 'setup.exe'")


async def test_async_upload_session_lifecycle(server):
    async with AsyncRouteurClient(server.url) as async_client:
        session = await async_client.open_upload_session("default")
        assert session.files == [] and session.documents == 0
        added = await async_client.add_to_upload_session("default", session.id, [("a.md", NOTE), ("b.exe", b"MZ")])
        assert [f.status for f in added.files] == ["ingested", "error"]
        current = await async_client.get_upload_session("default", session.id)
        assert current.documents == 1 and [f.filename for f in current.files] == ["a.md", "b.exe"]
        assert current.files[1].error and "b.exe" in current.files[1].error
        assert await async_client.delete_upload_session("default", session.id) == 1
        with pytest.raises(NotFoundError):
            await async_client.get_upload_session("default", session.id)
        with pytest.raises(NotFoundError):
            await async_client.get_document("default", added.files[0].file_id)


def test_a_project_outside_the_token_is_permission_denied(client):
    with pytest.raises(PermissionDeniedError) as caught:
        client.list_documents("secret-project")
    assert caught.value.status_code == 403 and caught.value.message == "This token may not use project 'secret-project'"
    with pytest.raises(PermissionDeniedError):
        client.complete(PORT_QUESTION, project_id="secret-project")


# -- errors ----------------------------------------------------------------------------------


async def test_unknown_model_is_a_bad_request_naming_it_before_any_stream_event(server, client):
    with pytest.raises(BadRequestError) as caught:
        client.complete(PORT_QUESTION, model="no-such-model")
    assert caught.value.status_code == 400 and "Unknown model 'no-such-model'" in caught.value.message
    async with AsyncRouteurClient(server.url) as async_client:
        with pytest.raises(BadRequestError, match="no-such-model"):
            async for _ in async_client.chat_stream(PORT_QUESTION, model="no-such-model"):
                pass
    with pytest.raises(BadRequestError, match="no-such-model"):
        next(client.complete_stream(PORT_QUESTION, model="no-such-model"))


def test_a_given_invalid_token_is_an_authentication_error(server):
    with RouteurClient(server.url, token="not-a-jwt") as bad:
        with pytest.raises(AuthenticationError) as caught:
            bad.verify()
        assert bad.token == "not-a-jwt"  # a given token is never replaced
    assert caught.value.status_code == 401 and caught.value.message


async def test_an_expired_self_obtained_token_is_renewed_transparently(server):
    secret = (server.data_dir / ".jwt_secret").read_text().strip()
    now = int(time.time())

    def signed(exp: int) -> str:
        claims = {"sub": "user", "iat": now - 120, "exp": exp, "extras": {"type": "access", "projects": ["default"]}}
        return jwt.encode(claims, secret, algorithm="HS256")

    async with AsyncRouteurClient(server.url, token=signed(now + 60)) as valid:
        assert (await valid.verify()).sub == "user"  # correctly signed: only the expiry differs below
    expired = signed(now - 60)
    async with AsyncRouteurClient(server.url, token=expired) as given:
        with pytest.raises(AuthenticationError):
            await given.verify()
    async with AsyncRouteurClient(server.url) as own:
        await own.authenticate()
        own._token = expired  # as if the token had aged past its TTL
        claims = await own.verify()
        assert own.token != expired and claims.exp > now


async def test_a_provider_failing_mid_stream_ends_with_an_error_event(server, client):
    async with AsyncRouteurClient(server.url) as async_client:
        events = [e async for e in async_client.chat_stream(PORT_QUESTION, model="stub-fail")]
    names = [e["event"] for e in events]
    assert names[0] == "session" and names[-1] == "error" and "done" not in names
    assert "".join(e["data"]["content"] for e in events if e["event"] == "chunk").split() == ["un", "deux", "trois"]
    assert events[-1]["data"]["phase"] == "generation" and "LLM request failed" in events[-1]["data"]["message"]
    completion_events = list(client.complete_stream(PORT_QUESTION, model="stub-fail"))
    assert {e["event"] for e in completion_events[:-1]} == {"chunk"} and completion_events[-1]["event"] == "error"
    assert "".join(e["data"]["content"] for e in completion_events[:-1]).split() == ["un", "deux", "trois"]
    with pytest.raises(ServerError) as caught:
        client.complete(PORT_QUESTION, model="stub-fail")
    assert caught.value.status_code == 502


async def test_an_unreachable_server_is_a_connection_error():
    url = f"http://127.0.0.1:{free_port()}"
    with RouteurClient(url) as sync_client, pytest.raises(RouteurConnectionError, match="Cannot reach"):
        sync_client.models()
    async with AsyncRouteurClient(url) as async_client:
        with pytest.raises(RouteurConnectionError) as caught:
            await async_client.health()
    assert caught.value.status_code is None


async def test_rate_limited_calls_raise_rate_limit_error_with_retry_after(settings_factory):
    limited = ServerProcess(settings_factory("client-limited").data_dir, ROUTEUR_RATE_LIMIT_PER_MINUTE="2").start()
    try:
        async with AsyncRouteurClient(limited.url, max_retries=0, pace=False) as async_client:
            for _ in range(2):  # counted by the limiter even though refused
                with pytest.raises(BadRequestError):
                    await async_client.complete(PORT_QUESTION, model="no-such-model")
            with pytest.raises(RateLimitError) as caught:
                await async_client.complete(PORT_QUESTION)
    finally:
        limited.stop()
    assert caught.value.status_code == 429 and 0 < caught.value.retry_after <= 60
    assert "Rate limit exceeded" in caught.value.message


async def test_the_client_paces_itself_to_the_announced_limit_instead_of_meeting_a_429(settings_factory):
    data_dir = settings_factory("client-paced").data_dir
    limited = ServerProcess(data_dir, ROUTEUR_RATE_LIMIT_PER_MINUTE="2").start()
    waits, slept = [], []

    class Stop(Exception):
        pass

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        raise Stop  # the window is a minute: what matters is that the client waits, not how it ends

    try:
        async with AsyncRouteurClient(limited.url, on_rate_limit=waits.append) as async_client:
            async_client.pacer.sleep = sleep
            for _ in range(2):
                assert (await async_client.complete(PORT_QUESTION)).response
            with pytest.raises(Stop):
                await async_client.complete(PORT_QUESTION)
            assert (await async_client.models())  # unlimited routes are not held back
    finally:
        limited.stop()
    assert len(waits) == 1 and waits[0].limit == 2 and waits[0].window_s == 60 and waits[0].path == "/completion"
    assert 0 < slept[0] <= 61
    log = limited.log_path.read_text()
    assert log.count("route=/completion status=200") == 2 and "status=429" not in log  # never sent into the limit


def test_429_is_retried_after_retry_after_then_raised():
    calls, limited = [], {"left": 2}

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/auth/token":
            return httpx.Response(200, json={"access_token": "t", "token_type": "bearer", "expires_in": 60})
        if limited["left"] > 0:
            limited["left"] -= 1
            return httpx.Response(429, headers={"Retry-After": "0"}, json={"status": "error", "message": "slow down"})
        return httpx.Response(502, text="upstream exploded")

    with RouteurClient("http://routeur.test", max_retries=2, transport=httpx.MockTransport(handler)) as mocked:
        with pytest.raises(ServerError) as failed:
            mocked.agents()
    assert calls == ["/auth/token", "/agents", "/agents", "/agents"]  # two 429s retried, then the 502
    assert failed.value.status_code == 502 and failed.value.message == "upstream exploded"  # not an envelope: the text

    calls.clear()
    limited["left"] = 2
    with RouteurClient("http://routeur.test", max_retries=1, transport=httpx.MockTransport(handler)) as mocked:
        with pytest.raises(RateLimitError) as caught:
            mocked.agents()
    assert calls == ["/auth/token", "/agents", "/agents"]
    assert caught.value.retry_after == 0 and caught.value.message == "slow down"


# -- streams closed early, batches -----------------------------------------------------------


async def test_stopping_a_stream_early_cancels_the_provider_stream(server, stub, client):
    for close_async in (False, True):
        before = _stub_stats(stub)
        if close_async:
            async with AsyncRouteurClient(server.url) as async_client:
                stream = async_client.chat_stream(PORT_QUESTION, model="stub-slow")
                async for event in stream:
                    if event["event"] == "chunk":
                        break
                await stream.aclose()
        else:
            for event in client.chat_stream(PORT_QUESTION, model="stub-slow"):
                if event["event"] == "chunk":
                    break  # the generator is dropped here, and closed
        deadline = time.monotonic() + 10
        while _stub_stats(stub)["streams_cancelled"] == before["streams_cancelled"] and time.monotonic() < deadline:
            time.sleep(0.05)
        after = _stub_stats(stub)
        assert after["streams_cancelled"] == before["streams_cancelled"] + 1
        assert after["streams_finished"] == before["streams_finished"]


async def test_async_complete_batch_bounds_concurrency_and_keeps_failures_in_place(server, stub):
    httpx.post(f"http://127.0.0.1:{stub.port}/stats/reset-peak", timeout=5)
    requests = [{"message": f"{PORT_QUESTION} ({i})", "model": "stub-paced"} for i in range(6)]
    requests.insert(3, {"message": PORT_QUESTION, "model": "no-such-model"})
    seen = []
    async with AsyncRouteurClient(server.url) as async_client:
        results = await async_client.complete_batch(requests, max_concurrent=2, progress=lambda d, t, r: seen.append((d, t, r)))
    assert _stub_stats(stub)["max_concurrent_streams"] == 2
    assert [d for d, _, _ in seen] == list(range(1, 8)) and {t for _, t, _ in seen} == {7}
    assert isinstance(results[3], BadRequestError) and "no-such-model" in results[3].message
    answers = [r for i, r in enumerate(results) if i != 3]
    assert all(isinstance(r, Completion) and r.response == " ".join(["mot"] * 20) for r in answers)
    assert {id(r) for _, _, r in seen} == {id(r) for r in results}


def test_sync_batches_bound_concurrency_and_keep_input_order(client, stub):
    httpx.post(f"http://127.0.0.1:{stub.port}/stats/reset-peak", timeout=5)
    results = client.complete_batch([{"message": PORT_QUESTION, "model": "stub-paced"}] * 6, max_concurrent=3)
    assert _stub_stats(stub)["max_concurrent_streams"] == 3 and all(isinstance(r, Completion) for r in results)

    queries = ["port par défaut", "", "limite de requêtes", "formats de fichiers"]
    calls = []
    found = client.search_batch("default", queries, max_concurrent=2, progress=lambda d, t, r: calls.append(d), top_k=2)
    assert sorted(calls) == [1, 2, 3, 4] and calls == [1, 2, 3, 4]
    assert [r.query for r in found if isinstance(r, SearchResult)] == [queries[0], queries[2], queries[3]]
    assert isinstance(found[1], BadRequestError) and found[1].message == "query is required"
    assert all(len(r.hits) == 2 for r in found if isinstance(r, SearchResult))


def test_sync_methods_keep_the_async_signatures_and_docs():
    for name in ("complete", "chat_stream", "upload_documents", "search_batch"):
        sync, original = getattr(RouteurClient, name), getattr(AsyncRouteurClient, name)
        assert sync.__doc__ == original.__doc__
        assert list(inspect.signature(sync).parameters) == list(inspect.signature(original).parameters)
    options = inspect.signature(RouteurClient.chat_stream).parameters["options"]
    assert options.annotation == "Unpack[ChatOptions]" and "session_id" in typing.get_type_hints(ChatOptions)
    assert str(inspect.signature(RouteurClient.chat_stream).return_annotation) == "Iterator[StreamEvent]"

"""The HTTP API through a real HTTP client (httpx, via Litestar's AsyncTestClient): every route,
both contracts, sessions, auth, rate limiting and bad input."""

from __future__ import annotations

import re

import jwt
import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from graphs import events
from nodes.intent import IntentWithStandalone
from nodes.models.factory import ModelRegistry
from tests.support.api_support import ingest_demo, sse_events
from tests.support.fakes import Fail, install_fake_model, remove_fake_model

PORT_QUESTION = "Sur quel port le serveur écoute-t-il par défaut ?"


@pytest.fixture(scope="module")
async def demo_settings(settings_factory):
    settings = settings_factory("api", rate_limit_per_minute=1000)
    await ingest_demo(settings)
    return settings


@pytest.fixture(scope="module")
def models(demo_settings):
    """The app's model registry: tests add their scripted fakes to it, and nowhere else."""
    return ModelRegistry(demo_settings)


@pytest.fixture(scope="module")
async def client(demo_settings, models):
    async with AsyncTestClient(create_app(demo_settings, models=models)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
async def auth(client):
    response = await client.post("/auth/token")
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


# -- auth ----------------------------------------------------------------------------------------


async def test_token_and_verify_shapes(client, auth):
    token = (await client.post("/auth/token")).json()
    assert token["token_type"] == "bearer" and token["expires_in"] == 3600 and token["access_token"].count(".") == 2
    verify = (await client.get("/auth/verify", headers=auth)).json()
    assert verify["valid"] is True
    assert verify["user"]["sub"] == "user" and verify["user"]["type"] == "access" and verify["user"]["exp"] > 0
    assert verify["user"]["projects"] == ["default"]


@pytest.mark.parametrize("route", ["/models", "/agents", "/auth/verify"])
async def test_missing_tampered_and_expired_tokens_get_401_in_the_envelope(client, auth, demo_settings, route):
    missing = await client.get(route)
    assert missing.status_code == 401 and missing.json()["status"] == "error"

    token = auth["Authorization"].split()[1]
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    bad = await client.get(route, headers={"Authorization": f"Bearer {tampered}"})
    assert bad.status_code == 401 and bad.json()["status"] == "error"

    secret = (demo_settings.data_dir / ".jwt_secret").read_text().strip()
    payload = jwt.decode(token, secret, algorithms=["HS256"])
    payload["exp"] = payload["iat"] - 10 if "iat" in payload else 1
    expired = jwt.encode(payload, secret, algorithm="HS256")
    late = await client.get(route, headers={"Authorization": f"Bearer {expired}"})
    assert late.status_code == 401 and late.json() == {"status": "error", "message": late.json()["message"]}


async def test_development_secret_is_persisted_so_tokens_survive_a_restart(demo_settings, auth, tmp_path):
    same_data_dir = demo_settings.model_copy(update={"edge_path": tmp_path / "edge"})  # one process per store path
    async with AsyncTestClient(create_app(same_data_dir)) as second:
        assert (await second.get("/auth/verify", headers=auth)).status_code == 200


def test_production_refuses_to_start_without_real_secrets(settings_factory):
    with pytest.raises(RuntimeError, match="JWT_SECRET"):
        create_app(settings_factory("prod", environment="production"))
    with pytest.raises(RuntimeError, match="ROUTEUR_CLIENTS"):
        create_app(settings_factory("prod2", environment="production", jwt_secret="Kq3v-Zr8_Tn1Lp6Wx2Hb9Yd4Mf7Gc0Js5Ue"))


async def test_production_token_requires_client_credentials(settings_factory):
    settings = settings_factory(
        "prod3",
        environment="production",
        jwt_secret="Kq3v-Zr8_Tn1Lp6Wx2Hb9Yd4Mf7Gc0Js5Ue",
        clients=[{"id": "frontend", "secret": "c" * 20, "projects": ["proj-a"]}],
    )
    async with AsyncTestClient(create_app(settings)) as prod:
        assert (await prod.post("/auth/token")).status_code == 401
        wrong = await prod.post("/auth/token", json={"client_id": "frontend", "client_secret": "nope"})
        assert wrong.status_code == 401 and wrong.json()["status"] == "error"
        right = await prod.post("/auth/token", json={"client_id": "frontend", "client_secret": "c" * 20})
        assert right.status_code == 200
        basic = await prod.post("/auth/token", auth=("frontend", "c" * 20))
        headers = {"Authorization": f"Bearer {basic.json()['access_token']}"}
        assert (await prod.get("/auth/verify", headers=headers)).json()["user"]["projects"] == ["proj-a"]
        assert not (settings.data_dir / ".jwt_secret").exists()


# -- catalog, health, schema -----------------------------------------------------------------------


async def test_models_agents_health_and_schema(client, auth):
    models = (await client.get("/models", headers=auth)).json()
    assert models["total"] == len(models["models"]) >= 6
    offline = next(m for m in models["models"] if m["name"] == "local-extractive")
    assert offline == {
        "name": "local-extractive",
        "provider": "local",
        "description": offline["description"],
        "supports_streaming": True,
        "context_window": offline["context_window"],
    }
    agents = (await client.get("/agents", headers=auth)).json()
    assert agents["total"] == 2 and [a["type"] for a in agents["agents"]] == ["V1", "V2"]
    assert all(a["available"] for a in agents["agents"]) and [a["default"] for a in agents["agents"]] == [False, True]
    assert "production" not in agents["agents"][0]["description"]  # V1 must not read as the one in use

    health = (await client.get("/health")).json()
    assert set(health) == {"status", "version", "title", "environment", "timestamp"} and health["status"] == "healthy"
    ready = await client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["vector_store"]["ok"] is True
    schema = (await client.get("/schema/openapi.json")).json()
    assert {"/completion", "/api/v1/chat", "/api/v1/chat/stream", "/models", "/agents", "/health"} <= set(schema["paths"])
    # Streams are documented as such: JSON or SSE where `stream: true` chooses, SSE only where it is the route's answer.
    ok = {(path, method): set(schema["paths"][path][method]["responses"]["200"]["content"]) for path, method in
          [("/completion", "post"), ("/v1/chat/completions", "post"), ("/api/v1/chat/stream", "post"), ("/api/v1/chat/stream", "get")]}
    assert ok[("/completion", "post")] == ok[("/v1/chat/completions", "post")] == {"application/json", "text/event-stream"}
    assert ok[("/api/v1/chat/stream", "post")] == ok[("/api/v1/chat/stream", "get")] == {"text/event-stream"}


async def test_readiness_reports_an_unavailable_store(client, monkeypatch):
    from retrievers.base import StoreUnavailableError

    store = client.app.state.run_dependencies.store

    async def down() -> None:
        raise StoreUnavailableError("Qdrant at http://qdrant:6333 is unavailable")

    monkeypatch.setattr(store, "ping", down)
    ready = await client.get("/health/ready")
    assert ready.status_code == 503 and ready.json()["checks"]["vector_store"]["ok"] is False


# -- /completion ---------------------------------------------------------------------------------

METRIC_KEYS = {
    "usage",
    "usage_by_model",
    "latency_s",
    "time_to_first_token_s",
    "tokens_per_second",
    "energy_kWh",
    "emissions_kgCO2eq",
    "emissions_gCO2eq",
    "pricing",
    "equivalences",
}


async def test_completion_json_contract(client, auth):
    response = await client.post("/completion", headers=auth, json={"message": PORT_QUESTION, "agent": "V1", "stream": False})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "local-extractive" and body["agent"] == "V1"
    assert "7860" in body["response"]
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", body["response"])}
    assert cited and cited <= {s["id"] for s in body["sources"]}
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"] > 0
    assert body["metadata"]["message_count"] == 2
    assert METRIC_KEYS <= set(body["metadata"])
    assert body["metadata"]["pricing"]["currency"] == "EUR" and body["metadata"]["pricing"]["total_cost"] == 0.0
    assert body["metadata"]["emissions_gCO2eq"] is None  # the offline model: EcoLogits knows no figure for it
    assert set(body["metadata"]["equivalences"]) == {"water_liters", "car_km", "tgv_km", "smartphone_charges"}
    assert body["sources"][0]["title"] and body["sources"][0]["file_id"]


async def test_completion_conversation_history_becomes_prior_messages(client, auth):
    history = [
        {"role": "user", "content": "Sur quel port le serveur écoute-t-il ?"},
        {"role": "assistant", "content": "Sur le port 7860 [1]."},
    ]
    body = (await client.post("/completion", headers=auth, json={"message": "Et la limite de requêtes par minute ?", "conversation_history": history})).json()
    assert body["metadata"]["message_count"] == 4
    assert "10 requêtes" in body["response"]


async def test_completion_stream_contract(client, auth):
    response = await client.post("/completion", headers=auth, json={"message": PORT_QUESTION, "stream": True})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    lines = sse_events(response.text)
    assert all(name is None for name, _ in lines)
    *chunks, last = [data for _, data in lines]
    assert chunks and all(c["done"] is False and c["metadata"] == {"model": "local-extractive", "agent": "V2"} for c in chunks)
    assert "7860" in "".join(c["content"] for c in chunks)
    assert last["done"] is True and last["content"] == ""
    assert METRIC_KEYS <= set(last["metadata"]) and last["metadata"]["agent"] == "V2" and last["metadata"]["sources"]


async def test_sources_filter_is_applied(client, auth):
    from retrievers.ingestion import file_id_for

    faq = file_id_for("default", "faq.html")
    body = (await client.post("/completion", headers=auth, json={"message": PORT_QUESTION, "sources": [faq]})).json()
    assert {s["file_id"] for s in body["sources"]} <= {faq}
    assert "7860" not in body["response"]


# -- /api/v1/chat ----------------------------------------------------------------------------------


async def test_chat_form_and_json_sessions_and_clear(client, auth):
    first = (await client.post("/api/v1/chat", headers=auth, data={"message": PORT_QUESTION})).json()
    assert first["status"] == "ok" and "7860" in first["content"] and len(first["sessionId"]) == 32
    assert first["sources"][0]["title"] and "url" in first["sources"][0]

    follow = (await client.post("/api/v1/chat", headers=auth, json={"message": "Et la limite de requêtes par minute ?", "sessionId": first["sessionId"]})).json()
    assert follow["sessionId"] == first["sessionId"] and "10 requêtes" in follow["content"]
    graphs = client.app.state.graphs
    thread = {"configurable": {"thread_id": f"user:{first['sessionId']}"}}
    state = await graphs.sessions["V2"].aget_state(thread)
    assert len(state.values["messages"]) == 4

    cleared = (await client.post("/api/v1/chat", headers=auth, data={"sessionId": first["sessionId"], "clear": "true"})).json()
    assert cleared == {"status": "ok", "sessionId": first["sessionId"], "cleared": True}
    assert (await graphs.sessions["V2"].aget_state(thread)).values == {}


async def test_sessions_are_private_to_their_caller(client, auth, demo_settings):
    first = (await client.post("/api/v1/chat", headers=auth, data={"message": PORT_QUESTION})).json()
    other = client.app.state.graphs.sessions["V2"]
    state = await other.aget_state({"configurable": {"thread_id": f"someone-else:{first['sessionId']}"}})
    assert state.values == {}


async def test_chat_stream_named_events_post_and_get(client, auth):
    for method in ("POST", "GET"):
        kwargs = {"data": {"message": PORT_QUESTION}} if method == "POST" else {"params": {"message": PORT_QUESTION}}
        response = await client.request(method, "/api/v1/chat/stream", headers=auth, **kwargs)
        assert response.status_code == 200
        received = sse_events(response.text)
        names = [name for name, _ in received]
        assert names[0] == "session" and names[-1] == "done"
        assert names.index("sources") < names.index("chunk")
        session = received[0][1]["sessionId"]
        phases = [(d["phase"], d["status"]) for n, d in received if n == "phase"]
        assert phases[0] == ("intent_analysis", "start") and ("search", "complete") in phases
        for name, data in received[1:-1]:
            events.parse_event({"event": name, "data": data})
        done = received[-1][1]
        assert done["sessionId"] == session and "<p>" in done["htmlContent"] and "7860" in done["htmlContent"]
        assert METRIC_KEYS <= set(done["metadata"])


async def test_html_content_escapes_raw_html(client, auth, models):
    install_fake_model(
        models, "fake-html",
        [IntentWithStandalone(intent="chit_chat", keywords="", standalone_question="x"), "**Gras** <script>alert(1)</script>"],
    )
    try:
        response = await client.post("/api/v1/chat/stream", headers=auth, data={"message": "Salut", "model": "fake-html"})
    finally:
        remove_fake_model(models, "fake-html")
    done = sse_events(response.text)[-1][1]
    assert "<strong>Gras</strong>" in done["htmlContent"]
    assert "<script>" not in done["htmlContent"] and "&lt;script&gt;" in done["htmlContent"]


async def test_provider_failure_mid_stream_then_clean_end_and_next_request_works(client, auth, models):
    install_fake_model(
        models, "fake-broken",
        [IntentWithStandalone(intent="chit_chat", keywords="", standalone_question="x"), Fail(RuntimeError("provider 503"), after_words=2)],
    )
    try:
        response = await client.post("/api/v1/chat/stream", headers=auth, data={"message": "Salut", "model": "fake-broken"})
        received = sse_events(response.text)
        assert [n for n, _ in received][-2:] == ["chunk", "error"]
        assert "".join(data["content"] for name, data in received if name == "chunk").split() == ["mot", "mot"]
        assert received[-1][1] == {"phase": "generation", "message": "LLM request failed: provider 503"}
        completion = await client.post(
            "/completion", headers=auth, json={"message": "Salut", "model": "fake-broken", "stream": True}
        )
        last = sse_events(completion.text)[-1][1]
        assert last["done"] is True and last["error"]["phase"] in {"generation", "intent_analysis"}
    finally:
        remove_fake_model(models, "fake-broken")
    assert (await client.post("/api/v1/chat", headers=auth, data={"message": PORT_QUESTION})).status_code == 200


async def test_non_streaming_provider_failure_is_a_502_envelope(client, auth, models):
    install_fake_model(models, "fake-down", [Fail(ConnectionError("provider unreachable"))])
    try:
        response = await client.post("/completion", headers=auth, json={"message": "Bonjour", "model": "fake-down"})
    finally:
        remove_fake_model(models, "fake-down")
    assert response.status_code == 502
    assert response.json()["status"] == "error" and "provider unreachable" in response.json()["message"]


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "body", "fragment"),
    [
        ("/completion", {"message": ""}, "Message is required"),
        ("/completion", {"message": "   \n "}, "Message is required"),
        ("/completion", {"message": "x" * 8001}, "too long"),
        ("/completion", {"message": "x", "model": "gpt-9"}, "Valid models: local-extractive"),
        ("/completion", {"message": "x", "agent": "V3"}, "Valid agents: V1, V2"),
        ("/completion", {"message": 42}, "message"),
        ("/completion", {"message": "x", "sources": "abc"}, "sources"),
        ("/completion", {"message": "x", "temperature": 9}, "temperature"),
        ("/api/v1/chat", {"message": ""}, "Message is required"),
        ("/api/v1/chat", {"message": "x", "agent": "V3"}, "Valid agents"),
        ("/api/v1/chat", {"message": "x", "sessionId": "../etc"}, "sessionId"),
        ("/api/v1/chat/stream", {"message": " "}, "Message is required"),
    ],
)
async def test_bad_input_is_a_clear_400_and_never_reaches_a_graph(client, auth, monkeypatch, route, body, fragment):
    import graphs.streaming

    def no_run(*args, **kwargs):
        raise AssertionError("a graph was run for a bad request")

    monkeypatch.setattr(graphs.streaming, "stream_events", no_run)
    response = await client.post(route, headers=auth, json=body)
    assert response.status_code == 400
    assert response.json()["status"] == "error" and fragment in response.json()["message"]


@pytest.mark.parametrize("route", ["/completion", "/api/v1/chat"])
async def test_malformed_json_is_a_400(client, auth, route):
    response = await client.post(route, headers={**auth, "Content-Type": "application/json"}, content=b'{"message": ')
    assert response.status_code == 400 and "alformed" in response.json()["message"]


async def test_unconfigured_provider_is_a_503_and_forbidden_project_a_403(client, auth):
    unavailable = await client.post("/completion", headers=auth, json={"message": "x", "model": "gpt-4o"})
    assert unavailable.status_code == 503 and "OPENAI_API_KEY" in unavailable.json()["message"]
    forbidden = await client.post("/completion", headers=auth, json={"message": "x", "project_id": "someone-elses"})
    assert forbidden.status_code == 403 and forbidden.json()["status"] == "error"


async def test_wrong_method_and_unknown_route_use_the_envelope(client, auth):
    wrong = await client.put("/api/v1/chat", headers=auth)
    assert wrong.status_code == 405 and wrong.json()["status"] == "error"
    missing = await client.get("/api/v2/nothing", headers=auth)
    assert missing.status_code == 404 and missing.json()["status"] == "error"


async def test_oversized_body_is_a_413_envelope(settings_factory):
    async with AsyncTestClient(create_app(settings_factory("small-body", max_request_bytes=2048))) as small:
        token = (await small.post("/auth/token")).json()["access_token"]
        response = await small.post("/completion", headers={"Authorization": f"Bearer {token}"}, json={"message": "x" * 5000})
        assert response.status_code == 413 and response.json()["status"] == "error"


# -- rate limiting -------------------------------------------------------------------------------


async def test_rate_limit_429_with_headers_and_unauthenticated_requests_count(settings_factory):
    """Unauthenticated floods are counted per address; a token's requests per its subject."""
    settings = settings_factory("ratelimit", rate_limit_per_minute=3)
    async with AsyncTestClient(create_app(settings)) as limited:
        token = (await limited.post("/auth/token")).json()["access_token"]
        for _ in range(3):
            assert (await limited.post("/completion", json={"message": "Bonjour"})).status_code == 401
        assert (await limited.post("/completion", json={"message": "Bonjour"})).status_code == 429
        for remaining in ("2", "1", "0"):
            ok = await limited.post("/completion", headers={"Authorization": f"Bearer {token}"}, json={"message": "Bonjour"})
            assert ok.status_code == 200 and ok.headers["RateLimit-Remaining"] == remaining
        refused = await limited.post("/completion", headers={"Authorization": f"Bearer {token}"}, json={"message": "Bonjour"})
        assert refused.status_code == 429
        assert refused.json()["status"] == "error" and "Rate limit" in refused.json()["message"]
        assert int(refused.headers["Retry-After"]) > 0
        assert refused.headers["RateLimit-Limit"] == "3" and refused.headers["RateLimit-Remaining"] == "0"
        assert (await limited.get("/models", headers={"Authorization": f"Bearer {token}"})).status_code == 200


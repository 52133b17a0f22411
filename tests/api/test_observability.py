"""Request ids and structured logs, through a real HTTP client: every answer carries
``X-Request-ID`` — those of the auth middleware, the rate limiter and the router included — and
every request and agent turn writes one line that names it."""

from __future__ import annotations

import io
import json

import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from routeur.logs import configure_logging
from tests.support.api_support import ingest_demo


@pytest.fixture(scope="module")
async def settings(settings_factory):
    settings = settings_factory("observability", rate_limit_per_minute=1000, max_request_bytes=4096, log_format="json")
    await ingest_demo(settings)
    return settings


@pytest.fixture(scope="module")
async def client(settings):
    async with AsyncTestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def log_lines():
    """The JSON lines the app writes during one test."""
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream=stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    configure_logging("INFO", "text")


def _requests(lines: list[dict], **match) -> list[dict]:
    return [line for line in lines if line["message"] == "request" and all(line.get(k) == v for k, v in match.items())]


async def _token(client) -> dict[str, str]:
    return {"Authorization": f"Bearer {(await client.post('/auth/token')).json()['access_token']}"}


async def test_every_answer_carries_a_request_id_even_from_auth_router_and_body_limit(client, log_lines):
    unauthenticated = await client.get("/models")
    assert unauthenticated.status_code == 401 and len(unauthenticated.headers["x-request-id"]) == 32
    not_found = await client.get("/no-such-route")
    assert not_found.status_code == 404 and not_found.headers["x-request-id"]
    auth = await _token(client)
    too_large = await client.post("/completion", headers=auth, json={"message": "x" * 8000})
    assert too_large.status_code == 413 and too_large.headers["x-request-id"]
    ids = {unauthenticated.headers["x-request-id"], not_found.headers["x-request-id"], too_large.headers["x-request-id"]}
    assert len(ids) == 3
    lines = log_lines()
    refused = _requests(lines, request_id=unauthenticated.headers["x-request-id"])
    assert refused and refused[0]["status"] == 401 and refused[0]["route"] == "/models"
    assert refused[0]["error"] == "No JWT token found in request header" and refused[0]["level"] == "WARNING"
    assert "caller" not in refused[0] and refused[0]["address"]


async def test_the_rate_limiters_429_carries_a_request_id_and_its_line_says_why(settings_factory, log_lines):
    async with AsyncTestClient(create_app(settings_factory("observability-limit", rate_limit_per_minute=1))) as limited:
        configure_logging("DEBUG", "json", stream=(stream := io.StringIO()))
        auth = await _token(limited)
        for _ in range(3):  # preflights (here without CORS configured) use no quota
            assert (await limited.options("/completion", headers=auth)).status_code in (200, 204)
        body = {"headers": {**auth, "Content-Type": "application/json"}, "content": b"{"}
        assert (await limited.post("/completion", **body)).status_code == 400
        refused = await limited.post("/completion", **body)
        assert refused.status_code == 429 and refused.headers["x-request-id"]
        line = next(json.loads(line) for line in stream.getvalue().splitlines() if refused.headers["x-request-id"] in line)
        assert line["status"] == 429 and "Rate limit" in line["error"] and line["route"] == "/completion"


async def test_a_sane_incoming_request_id_is_kept_and_a_hostile_one_replaced(client):
    kept = await client.get("/health", headers={"X-Request-ID": "lb-7f3a.42:9"})
    assert kept.headers["x-request-id"] == "lb-7f3a.42:9"
    for hostile in (b"a b", b"x" * 129, b'id"quoted', "é-accent".encode(), b"<script>"):
        response = await client.get("/health", headers={"X-Request-ID": hostile})
        assert response.headers["x-request-id"].encode() != hostile and len(response.headers["x-request-id"]) == 32


async def test_a_completion_writes_a_request_line_and_a_turn_line_with_the_same_id(client, log_lines):
    auth = await _token(client)
    response = await client.post(
        "/completion", headers={**auth, "X-Request-ID": "turn-test-1"}, json={"message": "Sur quel port le serveur écoute-t-il ?", "agent": "V1", "stream": False}
    )
    assert response.status_code == 200
    lines = [line for line in log_lines() if line.get("request_id") == "turn-test-1"]
    turn = [line for line in lines if line["message"] == "turn"]
    request = _requests(lines)
    assert len(turn) == 1 and len(request) == 1
    assert turn[0]["agent"] == "V1" and turn[0]["model"] == "local-extractive" and turn[0]["project"] == "default"
    assert turn[0]["outcome"] == "answered" and turn[0]["latency_ms"] > 0 and "input_tokens" in turn[0]
    assert request[0]["route"] == "/completion" and request[0]["status"] == 200 and request[0]["caller"] == "user"
    assert request[0]["project"] == "default" and request[0]["agent"] == "V1" and request[0]["model"] == "local-extractive"
    assert request[0]["latency_ms"] >= turn[0]["latency_ms"] and request[0]["level"] == "INFO"


async def test_a_bad_request_line_says_why_in_text_format(client, log_lines):
        stream = io.StringIO()
        configure_logging("INFO", "text", stream=stream)
        auth = await _token(client)
        response = await client.post("/completion", headers=auth, json={"message": "Bonjour", "model": "gpt-5-typo", "stream": False})
        assert response.status_code == 400
        line = next(line for line in stream.getvalue().splitlines() if " request " in line and "status=400" in line)
        assert f"request_id={response.headers['x-request-id']}" in line and "route=/completion" in line
        assert "Unknown model 'gpt-5-typo'" in line and "caller=user" in line


async def test_behind_a_trusted_proxy_the_line_names_the_forwarded_address(settings_factory):
    settings = settings_factory("observability-proxy", trust_forwarded_for=True, trusted_proxies=["10.0.0.0/8"])
    app = create_app(settings)
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream=stream)
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    for peer, expected in (("10.0.0.5", "203.0.113.9"), ("198.51.100.7", "198.51.100.7")):
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": "/health", "raw_path": b"/health", "query_string": b"", "root_path": "",
            "headers": [(b"host", b"api"), (b"x-forwarded-for", b"203.0.113.9")], "client": (peer, 4000), "server": ("api", 80),
        }  # fmt: skip
        await app(scope, receive, send)
        line = json.loads(stream.getvalue().splitlines()[-1])
        assert line["message"] == "request" and line["status"] == 200 and line["address"] == expected
    configure_logging("INFO", "text")

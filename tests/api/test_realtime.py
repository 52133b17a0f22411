"""``/realtime/ws`` in-process: the idle timeout (the rest runs against a server process in
tests/e2e/test_realtime_ws.py)."""

from __future__ import annotations

import time

import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient

from api.app import create_app


@pytest.fixture(scope="module")
def client(settings_factory):
    with TestClient(create_app(settings_factory("realtime-idle", realtime_idle_timeout_s=0.6))) as test_client:
        yield test_client


def test_an_idle_socket_is_closed_and_pings_keep_it_open(client):
    token = client.post("/auth/token").json()["access_token"]
    with client.websocket_connect(f"/realtime/ws?token={token}") as ws:
        for n in range(4):  # 1.2 s of pings every 0.3 s: longer than the timeout, never idle
            time.sleep(0.3)
            ws.send_json({"type": "ping", "payload": {"n": n}})
            assert ws.receive_json(timeout=5) == {"type": "pong", "payload": {"n": n}}
        started = time.monotonic()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json(timeout=5)
        assert closed.value.code == 4408 and 0.4 < time.monotonic() - started < 3


def test_turns_on_the_socket_share_the_callers_chat_rate_limit(settings_factory):
    with TestClient(create_app(settings_factory("realtime-limit", rate_limit_per_minute=2))) as limited:
        token = limited.post("/auth/token").json()["access_token"]
        with limited.websocket_connect("/realtime/ws", headers={"Authorization": f"Bearer {token}"}) as ws:
            for _ in range(2):
                ws.send_json({"type": "message", "payload": {"text": "Bonjour", "agent": "V1"}})
                while (message := ws.receive_json(timeout=60))["type"] != "done":
                    assert message["type"] != "error", message
            ws.send_json({"type": "message", "payload": {"text": "Bonjour"}})
            refused = ws.receive_json(timeout=10)
            assert refused["type"] == "error" and refused["payload"]["code"] == "rate_limited"
            assert refused["payload"]["status"] == 429 and refused["payload"]["retry_after"] > 0
            ws.send_json({"type": "ping", "payload": {}})
            assert ws.receive_json(timeout=5)["type"] == "pong"
        over = limited.post("/completion", headers={"Authorization": f"Bearer {token}"}, json={"message": "Bonjour"})
        assert over.status_code == 429  # the socket's turns were counted in the same budget

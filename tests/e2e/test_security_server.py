"""Security properties that only real server processes show: a rate limit shared through Redis by
two ``routeur serve`` processes, X-Forwarded-For ignored by default (uvicorn would believe it from
127.0.0.1), and a prompt exit on SIGTERM while a large upload is being embedded."""

from __future__ import annotations

import secrets
import shutil
import signal
import subprocess
import threading
import time

import httpx
import pytest

from tests.support.api_support import ServerProcess, free_port

SECRET = secrets.token_urlsafe(48)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A real redis-server of its own (Debian's ``redis-server``), no persistence."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed (apt-get install redis-server; .ci/run installs it)"
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path_factory.mktemp("redis"),
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    deadline = time.monotonic() + 30
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="module")
def two_servers(settings_factory, redis_url):
    env = {"ROUTEUR_JWT_SECRET": SECRET, "ROUTEUR_REDIS_URL": redis_url, "ROUTEUR_RATE_LIMIT_PER_MINUTE": "4"}
    servers = [ServerProcess(settings_factory(f"replica{i}").data_dir, **env).start() for i in range(2)]
    yield servers
    for server in servers:
        server.stop()


def test_forwarded_for_does_not_rotate_the_address_by_default(two_servers):
    first = two_servers[0]
    statuses = [
        httpx.post(f"{first.url}/api/v1/chat", json={"message": "x"}, headers={"X-Forwarded-For": f"10.1.1.{i}"}, timeout=30).status_code
        for i in range(5)
    ]
    assert statuses[:4] == [401] * 4 and statuses[4] == 429


def test_the_rate_limit_is_shared_by_two_server_processes_through_redis(two_servers):
    a, b = two_servers
    token = a.token()  # same secret: a token from one replica is valid on the other
    seen = []
    for server in (a, b, a, b):
        response = httpx.post(f"{server.url}/api/v1/chat", json={"message": "x" * 9000}, headers=token, timeout=30)
        assert response.status_code == 400, response.text
        seen.append(response.headers["x-ratelimit-remaining"])
    assert seen == ["3", "2", "1", "0"]
    for server in (a, b):
        limited = httpx.post(f"{server.url}/api/v1/chat", json={"message": "x"}, headers=token, timeout=30)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_sigterm_mid_ingest_exits_promptly(settings_factory):
    """A 10,000-chunk upload takes over a minute to embed on two cores; SIGTERM must not wait
    for it. The bound is generous: a liveness check, not a speed measure."""
    settings = settings_factory("sigterm")
    server = ServerProcess(
        settings.data_dir,
        ROUTEUR_CHUNK_SIZE="200",
        ROUTEUR_CHUNK_OVERLAP="20",
        ROUTEUR_MAX_CHUNKS_PER_FILE="100000",
        ROUTEUR_MAX_EXTRACTED_CHARS="10000000",
        ROUTEUR_SHUTDOWN_TIMEOUT_S="2",
    ).start()
    text = "".join(f"Paragraphe {i} : la procédure numéro {i} est décrite ici en quelques mots utiles.\n\n" for i in range(10_000))
    outcome: dict[str, object] = {}

    def upload() -> None:
        try:
            outcome["status"] = httpx.post(
                f"{server.url}/projects/default/documents",
                files={"file": ("big.txt", text.encode())},
                headers=server.token(),
                timeout=300,
            ).status_code
        except httpx.HTTPError as exc:
            outcome["error"] = type(exc).__name__

    thread = threading.Thread(target=upload, daemon=True)
    thread.start()
    time.sleep(4)  # let the upload reach the embedding step
    assert thread.is_alive(), f"the upload should still be running: {outcome}"
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    try:
        code = server.process.wait(timeout=45)
    finally:
        server.stop()
    assert code is not None
    thread.join(timeout=30)
    assert outcome.get("status") != 201, "the upload cannot have completed"

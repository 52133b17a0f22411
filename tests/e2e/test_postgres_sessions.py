"""Sessions on the Postgres checkpointer (ROUTEUR_POSTGRES_URL): a real PostgreSQL cluster,
started by the test on a free loopback port, survives an app restart; ``clear`` deletes."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from pydantic import SecretStr

from api.app import create_app
from tests.support.api_support import free_port, ingest_demo

PG_BIN = Path("/usr/local/bin")


@pytest.fixture(scope="module")
def postgres_url():
    """initdb + pg_ctl as the ``postgres`` user (PostgreSQL refuses to run as root)."""
    root = Path(tempfile.mkdtemp(prefix="routeur-pg-"))
    shutil.chown(root, user="postgres")
    data, port = root / "data", free_port()

    def as_postgres(*command: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True, timeout=120)

    as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    as_postgres(
        str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "start",
        "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1",
    )  # fmt: skip
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop")
        shutil.rmtree(root, ignore_errors=True)


async def test_sessions_live_in_postgres_across_app_restarts(settings_factory, postgres_url):
    settings = settings_factory("postgres", postgres_url=SecretStr(postgres_url), rate_limit_per_minute=1000)
    await ingest_demo(settings)
    async with AsyncTestClient(create_app(settings)) as client:
        headers = {"Authorization": f"Bearer {(await client.post('/auth/token')).json()['access_token']}"}
        first = (await client.post("/api/v1/chat", headers=headers, data={"message": "Sur quel port le serveur écoute-t-il ?"})).json()
        assert "7860" in first["content"]
        assert type(client.app.state.checkpointer).__name__ == "AsyncPostgresSaver"
    assert not settings.resolved_sessions_path().exists()  # nothing went to SQLite

    async with AsyncTestClient(create_app(settings)) as client:
        headers = {"Authorization": f"Bearer {(await client.post('/auth/token')).json()['access_token']}"}
        follow = (
            await client.post("/api/v1/chat", headers=headers, data={"message": "Et le code HTTP ?", "sessionId": first["sessionId"]})
        ).json()
        thread = {"configurable": {"thread_id": f"user:{first['sessionId']}"}}
        graph = client.app.state.graphs.sessions["V2"]
        assert follow["sessionId"] == first["sessionId"]
        assert len((await graph.aget_state(thread)).values["messages"]) == 4
        cleared = await client.post("/api/v1/chat", headers=headers, data={"sessionId": first["sessionId"], "clear": "true"})
        assert cleared.json()["cleared"] is True
        assert (await graph.aget_state(thread)).values == {}

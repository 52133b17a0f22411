"""LangGraph Studio's server (``langgraph dev``) loads both graphs from ``langgraph.json`` and
streams our event protocol through ``langgraph-sdk``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client

from graphs import events

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
async def langgraph_server(tmp_path_factory, store_factory):
    from retrievers.ingestion import ingest_paths

    data_dir = tmp_path_factory.mktemp("langgraph-dev")
    store = store_factory("lg-ingest", qdrant_path=data_dir / "qdrant")
    await ingest_paths(store, [ROOT / "demo" / "corpus"], project_id="default", progress=False)
    store.close()  # one process per embedded path: the server opens it next

    port = _free_port()
    env = {
        **os.environ,
        "ROUTEUR_DATA_DIR": str(data_dir),
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGGRAPH_NO_VERSION_CHECK": "true",
        "LANGSMITH_TRACING": "false",
    }
    workdir = tmp_path_factory.mktemp("lg-workdir")
    log = open(workdir / "server.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "langgraph"), "dev",
            "--config", str(ROOT / "langgraph.json"),
            "--port", str(port), "--host", "127.0.0.1",
            "--no-browser", "--no-reload", "--n-jobs-per-worker", "4",
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("langgraph dev exited:\n" + (workdir / "server.log").read_text()[-3000:])
            try:
                if httpx.get(f"{url}/ok", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise RuntimeError("langgraph dev did not start:\n" + (workdir / "server.log").read_text()[-3000:])
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.mark.parametrize("assistant", ["v1", "v2"])
async def test_langgraph_dev_streams_the_event_protocol(langgraph_server, assistant):
    client = get_client(url=langgraph_server)
    received = []
    async for part in client.runs.stream(
        None,
        assistant,
        input={"messages": [{"role": "user", "content": "Sur quel port le serveur écoute-t-il par défaut ?"}]},
        stream_mode="custom",
        context={"project_id": "default", "model": "local-extractive"},
    ):
        if part.event == "custom":
            received.append(events.parse_event(part.data))
    names = [e["event"] for e in received]
    phases = [(e["data"]["phase"], e["data"]["status"]) for e in received if e["event"] == "phase"]
    assert phases[:2] == [("intent_analysis", "start"), ("intent_analysis", "complete")]
    assert ("search", "complete") in phases and ("evaluation", "complete") in phases
    assert names.index("sources") < names.index("chunk") < names.index("done") == len(names) - 1
    done = received[-1]["data"]
    assert "7860" in done["answer"] and done["sources"]
    assert done["answer"] == "".join(e["data"]["content"] for e in received if e["event"] == "chunk")

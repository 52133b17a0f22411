"""LangGraph Studio's server (``langgraph dev``) loads both graphs from ``langgraph.json`` and
streams our event protocol through ``langgraph-sdk``."""

from __future__ import annotations

import pytest
from langgraph_sdk import get_client

from graphs import events
from routeur.settings import Settings
from tests.support.api_support import LanggraphDevProcess, ingest_demo


@pytest.fixture(scope="module")
async def langgraph_server(tmp_path_factory):
    settings = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("langgraph-dev"))
    await ingest_demo(settings)  # then released: one process per embedded path
    process = LanggraphDevProcess(settings.data_dir).start()
    yield process.url
    process.stop()


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

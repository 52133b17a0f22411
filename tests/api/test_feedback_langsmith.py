"""A rating sent to LangSmith names the project of the answer's run (its ``session_id``): feedback
on a run without it is deprecated by the client and refused by some deployments."""

from __future__ import annotations

import uuid
import warnings

import pytest

from api.routes.feedback import send_to_langsmith
from routeur.conversations import Feedback
from tests.support.langsmith_stub import LangSmithStub

API_KEY = "ls-test-key"


@pytest.fixture
def stub(clean_langsmith_env, monkeypatch):
    with LangSmithStub(api_key=API_KEY, multipart=False) as stub:
        monkeypatch.setenv("LANGSMITH_API_KEY", API_KEY)
        monkeypatch.setenv("LANGSMITH_ENDPOINT", stub.url)
        yield stub


async def _send_recording_warnings(feedback: Feedback) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await send_to_langsmith(feedback)
    return caught


def _deprecations(caught: list[warnings.WarningMessage]) -> list[str]:
    from langsmith.utils import LangSmithWarning

    return [str(w.message) for w in caught if issubclass(w.category, (DeprecationWarning, LangSmithWarning))]


async def test_feedback_names_the_tracing_project_that_already_holds_the_run(stub, monkeypatch):
    monkeypatch.setenv("LANGSMITH_PROJECT", "routeur-prod")
    existing = stub._new_session("routeur-prod")  # the project the server's traces already went to
    message_id = str(uuid.uuid4())

    caught = await _send_recording_warnings(Feedback(message_id, "like", "clair", "2026-01-01T00:00:00Z"))

    assert _deprecations(caught) == []
    assert [(f["run_id"], f["session_id"], f["score"], f["comment"]) for f in stub.feedback] == [
        (message_id, existing["id"], 1.0, "clair")
    ]
    assert [s["name"] for s in stub.sessions.values()] == ["routeur-prod"]  # read, not created again


async def test_feedback_before_the_first_trace_creates_the_default_project_the_run_then_joins(stub):
    message_id = str(uuid.uuid4())

    caught = await _send_recording_warnings(Feedback(message_id, "dislike", None, "2026-01-01T00:00:00Z"))

    assert _deprecations(caught) == []
    project = stub.session_by_name("default")  # LangSmith's project when LANGSMITH_PROJECT is unset
    assert project is not None
    assert [(f["run_id"], f["session_id"], f["score"]) for f in stub.feedback] == [(message_id, project["id"], 0.0)]
    stub._record_run("post", {"id": message_id, "session_name": "default"})  # the run, ingested afterwards
    assert stub.runs[message_id]["session_id"] == project["id"]

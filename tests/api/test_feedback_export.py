"""Feedback leaves the service two ways: to LangSmith (the local fake of its API) as feedback on
the answer's run, and as an evaluation dataset from ``routeur feedback export``. Also the upload
sessions' ``deactivate``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from litestar.testing import AsyncTestClient

from api.app import create_app
from routeur.evaluation.dataset import load_dataset
from tests.support.api_support import ROOT, ingest_demo
from tests.support.langsmith_stub import LangSmithStub

QUESTION = "Sur quel port le serveur écoute-t-il par défaut ?"
API_KEY = "ls-test-key"


async def test_feedback_reaches_langsmith_and_liked_answers_export_as_a_dataset(
    settings_factory, clean_langsmith_env, monkeypatch, tmp_path
):
    settings = settings_factory("feedback", rate_limit_per_minute=1000)
    await ingest_demo(settings)
    with LangSmithStub(api_key=API_KEY) as stub:
        monkeypatch.setenv("LANGSMITH_API_KEY", API_KEY)
        monkeypatch.setenv("LANGSMITH_ENDPOINT", stub.url)
        monkeypatch.setenv("LANGSMITH_TRACING", "true")
        async with AsyncTestClient(create_app(settings), timeout=60) as client:
            headers = {"Authorization": f"Bearer {(await client.post('/auth/token')).json()['access_token']}"}
            liked = (await client.post("/api/v1/chat", headers=headers, json={"message": QUESTION})).json()
            disliked = (await client.post("/api/v1/chat", headers=headers, json={"message": "Quels formats de fichiers ?"})).json()
            for answer, rating in ((liked, "dislike"), (liked, "like"), (disliked, "dislike")):
                response = await client.post(
                    f"/api/v1/messages/{answer['messageId']}/feedback", headers=headers, json={"rating": rating, "comment": "vu"}
                )
                assert response.status_code == 200
            assert stub.wait_for(lambda: len(stub.feedback) >= 3, timeout=20)
            assert stub.wait_for(lambda: liked["messageId"] in stub.runs, timeout=20)  # the answer's run, traced by its id
        on_liked = [f for f in stub.feedback if f["run_id"] == liked["messageId"]]
        assert [(f["key"], f["score"], f["comment"]) for f in on_liked] == [("user_rating", 0.0, "vu"), ("user_rating", 1.0, "vu")]
        assert [f["score"] for f in stub.feedback if f["run_id"] == disliked["messageId"]] == [0.0]
        assert {f["session_id"] for f in stub.feedback} == {stub.runs[liked["messageId"]]["session_id"]}  # the run's project

    out = tmp_path / "rated.jsonl"
    env = {**os.environ, "ROUTEUR_DATA_DIR": str(settings.data_dir), "LANGSMITH_TRACING": "false"}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "routeur"), "feedback", "export", "--format", "jsonl", "--output", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    examples = load_dataset(out)
    assert [e.id for e in examples] == [liked["messageId"]]
    example = examples[0]
    assert example.question == QUESTION and example.project_id == "default" and example.reference == liked["content"]
    assert example.file_ids == sorted({s["file_id"] for s in liked["sources"]}) and example.file_ids


async def test_deactivate_closes_the_callers_open_upload_sessions(settings_factory):
    settings = settings_factory(
        "deactivate",
        clients=[{"id": "alice", "secret": "a" * 20, "projects": ["default"]}, {"id": "bob", "secret": "b" * 20, "projects": ["default"]}],
    )
    async with AsyncTestClient(create_app(settings)) as client:
        alice = {"Authorization": f"Bearer {(await client.post('/auth/token', auth=('alice', 'a' * 20))).json()['access_token']}"}
        bob = {"Authorization": f"Bearer {(await client.post('/auth/token', auth=('bob', 'b' * 20))).json()['access_token']}"}
        base = "/projects/default/upload-sessions"
        mine = [(await client.post(base, headers=alice)).json()["id"] for _ in range(2)]
        theirs = (await client.post(base, headers=bob)).json()["id"]
        closed = await client.post(f"{base}/deactivate", headers=alice)
        assert closed.status_code == 200
        assert closed.json() == {"project_id": "default", "deactivated": 2, "ids": sorted(mine)}
        assert (await client.get(f"{base}/{mine[0]}", headers=alice)).json()["active"] is False
        assert (await client.get(f"{base}/{theirs}", headers=bob)).json()["active"] is True
        refused = await client.post(f"{base}/{mine[0]}", headers=alice, files={"files": ("a.md", b"# A\n\nTexte.", "text/markdown")})
        assert refused.status_code == 409 and refused.json()["status"] == "error"
        added = await client.post(f"{base}/{theirs}", headers=bob, files={"files": ("b.md", b"# B\n\nTexte du fichier.", "text/markdown")})
        assert added.status_code == 201
        assert (await client.post(f"{base}/deactivate", headers=alice)).json()["deactivated"] == 0

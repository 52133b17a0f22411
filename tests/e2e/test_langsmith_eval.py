"""LangSmith both ways. With a key (against a local fake of the LangSmith API): the dataset is
synced once, each agent is an experiment, its runs are traced down to the graph's nodes, and
every score is feedback. Without a key: the same evaluation makes no network attempt."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from routeur.evaluation import evaluators, load_dataset, run_evaluation
from routeur.evaluation.command import run as run_command
from routeur.evaluation.experiments import langsmith_client, run_on_langsmith
from routeur.evaluation.targets import GraphTarget
from tests.support.api_support import ROOT, ingest_demo
from tests.support.langsmith_stub import LangSmithStub

DATASET = ROOT / "demo" / "eval" / "questions.jsonl"
API_KEY = "ls-test-key"
NODES = {"intent_analysis", "search", "evaluation", "generation"}


@pytest.fixture(scope="module")
async def demo(settings_factory):
    from retrievers import build_store

    settings = settings_factory("langsmith")
    await ingest_demo(settings)
    store = await asyncio.to_thread(build_store, settings)
    yield settings, store
    store.close()


def _targets(demo) -> list[GraphTarget]:
    settings, store = demo
    return [GraphTarget(agent, store=store, settings=settings) for agent in ("V1", "V2")]


def _quality(rows) -> dict:
    keys = [m.key for m in evaluators.METRICS if not m.key.endswith("_s")]
    return {(r.agent, r.example_id): (r.answer, [s["file_id"] for s in r.sources], {k: r.scores[k] for k in keys}) for r in rows}


async def test_with_a_key_each_agent_is_an_experiment_traced_down_to_the_nodes(demo, clean_langsmith_env, connections, monkeypatch):
    examples = load_dataset(DATASET)[:6]
    with LangSmithStub(api_key=API_KEY) as stub:
        monkeypatch.setenv("LANGSMITH_API_KEY", API_KEY)
        monkeypatch.setenv("LANGSMITH_ENDPOINT", stub.url)
        client = langsmith_client()
        try:
            rows = await run_on_langsmith(examples, _targets(demo), dataset_name="routeur-test", k=5, concurrency=3, client=client)
            again = await run_on_langsmith(examples[:2], _targets(demo)[:1], dataset_name="routeur-test", k=5, client=client)
            assert stub.wait_for(lambda: len({f["run_id"] for f in stub.feedback}) >= 2 * len(examples) + 2, timeout=20)
            client.flush()
        finally:
            client.close(timeout=5)

    # The rows are the local evaluation's: same answers, sources and scores.
    local = await run_evaluation(examples, _targets(demo), k=5, progress=False)
    assert _quality(rows) == _quality(local)
    assert len(again) == 2

    # One dataset, each question once, though synced twice.
    assert len(stub.datasets) == 1 and len(stub.examples) == len(examples)
    dataset_id = next(iter(stub.datasets))

    experiments = {s["name"]: s for s in stub.sessions.values() if s["name"].startswith("routeur-V")}
    assert sorted(name.rsplit("-", 1)[0] for name in experiments) == ["routeur-V1", "routeur-V1", "routeur-V2"]
    for row in rows:
        session = experiments[row.details["experiment"]]
        assert session["reference_dataset_id"] == dataset_id
        runs = stub.runs_in_session(session["id"])
        roots = {r["inputs"]["question"]: r for r in runs if not r.get("parent_run_id")}
        assert len(roots) == len(examples)
        root = roots[row.question]
        assert root["name"] == f"Routeur {row.agent}" and root["outputs"]["answer"] == row.answer
        below = {r["name"] for r in runs if r["trace_id"] == root["trace_id"] and r["id"] != root["id"]}
        assert {f"routeur-{row.agent}", *NODES} <= below  # the graph run (run_config names it) and its nodes
        feedback = {f["key"]: f["score"] for f in stub.feedback if f["run_id"] == root["id"]}
        assert feedback == pytest.approx({k: v for k, v in row.scores.items() if v is not None}, abs=1e-4)  # stored to 4 decimals

    # Only the fake LangSmith was contacted, with the key given.
    hosts = {address for kind, address in connections if kind == "connect"}
    assert hosts and all(address[1] == int(stub.url.rsplit(":", 1)[1]) for address in hosts)
    assert stub.api_keys_seen == {API_KEY} and not stub.unknown


def test_routeur_eval_uploads_when_the_key_is_in_its_environment(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGSMITH_", "LANGCHAIN_"))}
    with LangSmithStub(api_key=API_KEY) as stub:
        done = subprocess.run(
            [str(Path(sys.executable).parent / "routeur"), "eval", str(DATASET), "--agents", "V2", "--ingest", "demo/corpus",
             "--output", str(tmp_path / "out.jsonl"), "--no-progress"],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
            env={**env, "ROUTEUR_DATA_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1", "LANGSMITH_API_KEY": API_KEY, "LANGSMITH_ENDPOINT": stub.url},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert "LangSmith experiments: routeur-V2-" in done.stderr and "V2 mean" in done.stdout
        experiment = next(s for s in stub.sessions.values() if s["name"].startswith("routeur-V2-"))
        roots = [r for r in stub.runs_in_session(experiment["id"]) if not r.get("parent_run_id")]
        assert len(roots) == len(load_dataset(DATASET))
        assert stub.wait_for(lambda: {f["key"] for f in stub.feedback} >= {"hit_at_k", "fact_recall", "citation_validity", "latency_s"})


async def test_without_a_key_nothing_leaves_the_machine(demo, clean_langsmith_env, connections, tmp_path):
    assert langsmith_client() is None
    args = argparse.Namespace(no_langsmith=False, concurrency=2, no_progress=True, dataset=DATASET)
    rows = await run_command(args, load_dataset(DATASET)[:4], _targets(demo), top_k=5, judge=None)
    assert len(rows) == 8 and all(r.error is None for r in rows)
    assert connections == []

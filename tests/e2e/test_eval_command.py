"""``routeur eval`` end to end on the shipped dataset: in this process, then against a live
server, which must give the same answers (same graphs, same documents, deterministic model)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from routeur.evaluation import load_dataset
from tests.support.api_support import ROOT, ServerProcess, free_port
from tests.support.openai_stub import StubServer

DATASET = ROOT / "demo" / "eval" / "questions.jsonl"
ROUTEUR = str(Path(sys.executable).parent / "routeur")


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGSMITH_", "LANGCHAIN_", "OPENAI_", "MISTRAL_"))}
    return {**env, "ROUTEUR_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}


def _eval(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ROUTEUR, "eval", str(DATASET), *args], cwd=ROOT, env=_env(data_dir), capture_output=True, text=True, timeout=600)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("eval")
    output = data_dir / "results.jsonl"
    done = _eval(data_dir, "--ingest", "demo/corpus", "--agents", "V1,V2", "--concurrency", "3", "--output", str(output))
    return done, output


def test_eval_prints_a_comparison_table_and_writes_every_answer(in_process):
    done, output = in_process
    assert done.returncode == 0, done.stderr[-3000:]
    examples = load_dataset(DATASET)
    rows = _rows(output)
    assert len(rows) == 2 * len(examples)
    assert {(r["agent"], r["example_id"]) for r in rows} == {(a, e.id) for a in ("V1", "V2") for e in examples}
    assert all(r["error"] is None for r in rows)
    header = done.stdout.splitlines()[0].split()
    assert header[:9] == ["metric", "V1", "mean", "V1", "p95", "V2", "mean", "V2", "p95"]
    for label in ("hit@5", "MRR", "citation validity", "fact recall", "abstention", "latency (s)", "tokens", "cost (EUR)"):
        assert any(line.startswith(label) for line in done.stdout.splitlines()), label
    assert "Evaluating" in done.stderr  # the progress bar


def test_eval_scores_follow_from_the_answers(in_process):
    _, output = in_process
    examples = {e.id: e for e in load_dataset(DATASET)}
    for row in _rows(output):
        example = examples[row["example_id"]]
        cited = [s["file_id"] for s in row["sources"]]
        if example.file_ids:
            assert row["scores"]["hit_at_k"] == float(any(f in example.file_ids for f in cited[:5]))
        else:
            assert row["scores"]["hit_at_k"] is None and row["scores"]["abstention"] == float(not cited)
        if example.sources:
            assert set(cited) <= set(example.sources)  # the filter held
        assert row["scores"]["citation_validity"] == 1.0
        assert row["scores"]["latency_s"] > 0 and row["scores"]["total_tokens"] is not None


def test_eval_rejects_bad_arguments_clearly(tmp_path):
    unknown = _eval(tmp_path, "--agents", "V9")
    assert unknown.returncode == 2 and "Unknown agent(s) V9" in unknown.stderr
    keyless_judge = _eval(tmp_path, "--judge", "gpt-4o-mini")
    assert keyless_judge.returncode == 2 and "'gpt-4o-mini' needs ROUTEUR_OPENAI_API_KEY" in keyless_judge.stderr
    assert "Traceback" not in keyless_judge.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": ""}\n', encoding="utf-8")
    done = subprocess.run([ROUTEUR, "eval", str(bad)], cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "bad.jsonl:1: question" in done.stderr


def test_eval_says_what_cannot_serve_instead_of_failing_every_question(tmp_path):
    unreachable = _eval(tmp_path, "--server", f"http://127.0.0.1:{free_port()}")
    assert unreachable.returncode == 1 and "routeur eval: Cannot reach http://127.0.0.1:" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
    unknown_model = _eval(tmp_path, "--model", "gpt-9")
    assert unknown_model.returncode == 1 and "Unknown model 'gpt-9'" in unknown_model.stderr


def test_eval_against_a_server_gives_the_same_answers(in_process, tmp_path):
    _, local_output = in_process
    server = ServerProcess(tmp_path, ROUTEUR_RATE_LIMIT_PER_MINUTE="1000").start()  # an empty store: --ingest uploads the corpus
    try:
        output = tmp_path / "server-results.jsonl"
        done = _eval(
            tmp_path / "cli",
            "--server",
            server.url,
            "--ingest",
            "demo/corpus",
            "--concurrency",
            "4",
            "--output",
            str(output),
            "--no-progress",
        )
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    remote = {(r["agent"], r["example_id"]): r for r in _rows(output)}
    local = {(r["agent"], r["example_id"]): r for r in _rows(local_output)}
    assert remote.keys() == local.keys()
    for key, row in local.items():
        assert remote[key]["answer"] == row["answer"], key
        assert [s["file_id"] for s in remote[key]["sources"]] == [s["file_id"] for s in row["sources"]], key
        assert {k: v for k, v in remote[key]["scores"].items() if not k.endswith("_s")} == {
            k: v for k, v in row["scores"].items() if not k.endswith("_s")
        }, key


def test_eval_with_an_llm_judge_from_a_real_provider(tmp_path):
    with StubServer() as stub:
        models = tmp_path / "models.json"
        models.write_text(json.dumps(stub.models_file_entries()), encoding="utf-8")
        output = tmp_path / "results.jsonl"
        done = subprocess.run(
            [ROUTEUR, "eval", str(DATASET), "--agents", "V2", "--judge", "stub-ok", "--ingest", "demo/corpus", "--output", str(output), "--no-progress"],
            cwd=ROOT, env={**_env(tmp_path), "ROUTEUR_EXTRA_MODELS_FILE": str(models)}, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    judged = [r for r in _rows(output) if r["scores"]["judge_score"] is not None]
    examples = load_dataset(DATASET)
    assert len(judged) == sum(1 for e in examples if e.facts or e.reference)
    assert {r["scores"]["judge_score"] for r in judged} == {0.0, 1.0}
    for row in judged:  # the stub judge grades "correct" exactly when every fact is stated
        assert row["scores"]["judge_score"] == float(row["scores"]["fact_recall"] in (None, 1.0)), row["example_id"]
        assert row["details"]["judge_reasoning"] == "stub judge"
    assert next(line for line in done.stdout.splitlines() if line.startswith("LLM judge")).split()[3] != "n/a"

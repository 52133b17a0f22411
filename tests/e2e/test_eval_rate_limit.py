"""``routeur eval --server`` against a server whose rate limit is lower than the dataset: every
answer arrives (none fails with a 429) because the client waits for the next window, and the
command says it is being limited and what to change."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.api_support import ROOT, ServerProcess, ingest_demo

ROUTEUR = str(Path(sys.executable).parent / "routeur")


async def test_a_rate_limited_evaluation_waits_and_says_so_instead_of_failing(settings_factory, tmp_path):
    settings = settings_factory("eval-limited")
    await ingest_demo(settings)
    questions = [json.loads(line) for line in (ROOT / "demo" / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    dataset = tmp_path / "three.jsonl"
    dataset.write_text("".join(json.dumps(q) + "\n" for q in [q for q in questions if not q.get("history")][:3]), encoding="utf-8")
    server = ServerProcess(settings.data_dir, ROUTEUR_RATE_LIMIT_PER_MINUTE="2").start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGSMITH_", "LANGCHAIN_", "OPENAI_", "MISTRAL_"))}
        output = tmp_path / "results.jsonl"
        done = subprocess.run(
            [ROUTEUR, "eval", str(dataset), "--server", server.url, "--agents", "V1", "--concurrency", "3", "--no-progress", "--output", str(output)],
            cwd=tmp_path, env={**env, "ROUTEUR_DATA_DIR": str(tmp_path / "client-data")}, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 3 and all(row.get("error") is None for row in rows), rows
    assert "3 answers (3 questions × 1 agents), 0 failed" in done.stdout
    assert "the server allows this client 2 chat/completion requests per 60 s: waiting" in done.stderr
    assert "waited" in done.stderr and "rate_limit_per_minute" in done.stderr and "--client-id" in done.stderr
    assert "status=429" not in server.log_path.read_text()

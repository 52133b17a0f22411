"""What each layer may import: the CLI, the evaluation and the benchmarks run agents without
the web framework, so importing them (and running a measured turn's code path) never loads Litestar."""

from __future__ import annotations

import subprocess
import sys

from tests.support.api_support import ROOT

MODULES = [
    "routeur.cli",
    "routeur.transcribe",
    "nodes.models.speech",
    "nodes.meeting",
    "routeur.evaluation.command",
    "routeur.evaluation.dataset",
    "routeur.evaluation.evaluators",
    "routeur.evaluation.experiments",
    "routeur.evaluation.report",
    "routeur.evaluation.runner",
    "routeur.evaluation.targets",
    "graphs.streaming",
    "graphs.dependencies",
    "nodes.models.metrics",
    "benchmarks.bench_streaming",
    "benchmarks.bench_throughput",
    "benchmarks.bench_retrieval",
    "benchmarks.bench_memory",
    "benchmarks.bench_transcription",
    "benchmarks.bench_pdf",
]


def test_cli_evaluation_and_benchmarks_do_not_import_the_web_layer():
    code = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m == 'litestar' or m.startswith(('litestar.', 'api.')) or m == 'api')\n"
        "print(','.join(loaded))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "", f"web layer loaded: {done.stdout.strip()}"

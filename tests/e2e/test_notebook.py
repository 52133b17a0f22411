"""``notebooks/evaluation.ipynb`` runs top to bottom, offline, as a user would run it."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent.parent / "notebooks" / "evaluation.ipynb"


def test_the_evaluation_notebook_runs_offline(monkeypatch, tmp_path):
    for name in [n for n in os.environ if n.startswith(("LANGSMITH_", "LANGCHAIN_", "OPENAI_", "MISTRAL_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "7 files" in text and "metric" in text and "V1 mean" in text and "V2 mean" in text
    assert "hit@5" in text and "rows written" in text and "stayed on this machine" in text
    assert any("image/png" in o.get("data", {}) for o in outputs if o.output_type == "display_data")

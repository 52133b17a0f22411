"""Evaluating the agents on a dataset: retrieval, citations, answer correctness and cost, per agent.

``routeur eval`` drives it from a terminal; notebooks call ``run_evaluation`` directly.
"""

from routeur.evaluation.dataset import DatasetError, Example, load_dataset
from routeur.evaluation.report import summarize, summary_table, write_results
from routeur.evaluation.runner import EvalRow, run_evaluation

__all__ = [
    "DatasetError",
    "EvalRow",
    "Example",
    "load_dataset",
    "run_evaluation",
    "summarize",
    "summary_table",
    "write_results",
]

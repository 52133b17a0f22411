"""The comparison: each metric's mean and p95 per agent, as a table and as data, and the
per-question results as JSON lines."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from routeur.evaluation.evaluators import METRICS
from routeur.evaluation.runner import EvalRow


@dataclass(frozen=True)
class Stat:
    mean: float | None
    p95: float | None
    n: int


def p95(values: Sequence[float]) -> float:
    """Nearest-rank 95th percentile: a value that was actually observed."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def summarize(rows: Sequence[EvalRow]) -> dict[str, dict[str, Stat]]:
    """Per agent, per metric: mean, p95 and how many answers it applied to (``None`` never counts)."""
    summary: dict[str, dict[str, Stat]] = {}
    for agent in dict.fromkeys(r.agent for r in rows):
        mine = [r for r in rows if r.agent == agent]
        summary[agent] = {}
        for metric in METRICS:
            values = [float(v) for r in mine if (v := r.scores.get(metric.key)) is not None]
            mean = sum(values) / len(values) if values else None
            summary[agent][metric.key] = Stat(mean, p95(values) if values else None, len(values))
    return summary


def _figure(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value == 0 or abs(value) >= 0.01:
        return f"{value:.3f}"
    return f"{value:.2e}"


def summary_table(summary: dict[str, dict[str, Stat]], *, k: int = 5) -> str:
    """Metrics as rows, agents side by side (mean and p95 each); ↑/↓ says which way is better."""
    agents = list(summary)
    header = ["metric", *[f"{a} {what}" for a in agents for what in ("mean", "p95")], "n"]
    lines = []
    for metric in METRICS:
        label = metric.label.replace("@k", f"@{k}") + (" ↑" if metric.higher_is_better else " ↓")
        stats = [summary[a][metric.key] for a in agents]
        counts = sorted({s.n for s in stats})
        lines.append([label, *[_figure(v) for s in stats for v in (s.mean, s.p95)], "/".join(map(str, counts))])
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def render(row: list[str]) -> str:
        return "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True)))

    return "\n".join([render(header), "  ".join("-" * w for w in widths), *map(render, lines)])


def write_results(rows: Sequence[EvalRow], path: str | Path) -> Path:
    """One JSON object per (agent, question), for notebooks and diffing two runs."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row.to_dict(), ensure_ascii=False) + "\n")
    return path

"""Shared by the benchmarks: a data dir with the demo corpus, the paced model, both servers,
percentiles and tables. Every benchmark prints its figures; none asserts timings."""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from routeur.settings import Settings
from tests.support.api_support import LanggraphDevProcess, ServerProcess, ingest_demo

QUESTION = "Sur quel port le serveur écoute-t-il par défaut ?"


def paced_models_file(data_dir: Path, tokens: int, delay_s: float) -> Path:
    """The extra-models file declaring ``paced``: a fixed number of tokens at a fixed pace."""
    path = data_dir / "models.json"
    entry = {"name": "paced", "provider": "python", "factory": "nodes.models.testing:paced_model"}
    path.write_text(json.dumps([{**entry, "options": {"tokens": tokens, "delay_s": delay_s}}]))
    return path


def prepared_data_dir(corpus: Path | None = None, data_dir: Path | None = None) -> Settings:
    """A data dir with the demo corpus (or ``corpus``) ingested in the default project. A given
    ``data_dir`` whose store exists is reused as it is (a large corpus is embedded once)."""
    settings = Settings(_env_file=None, data_dir=data_dir or Path(tempfile.mkdtemp(prefix="routeur-bench-")))
    if data_dir is not None and settings.resolved_edge_path().exists():
        return settings
    if corpus is None:
        asyncio.run(ingest_demo(settings))
    else:
        asyncio.run(_ingest(settings, corpus))
    return settings


async def _ingest(settings: Settings, corpus: Path) -> None:
    from retrievers import build_store
    from retrievers.ingestion import ingest_paths

    store = await asyncio.to_thread(build_store, settings)
    try:
        await ingest_paths(store, [corpus], project_id="default", progress=True, settings=settings)
    finally:
        store.close()


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its live descendants, from ``/proc``: what a
    server spent, whatever its threads or workers."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    family, total, grew = {pid}, 0.0, True
    while grew:
        grown = family | {child for child, (parent, _) in stats.items() if parent in family}
        grew, family = grown != family, grown
    for member in family:
        total += stats.get(member, (0, 0.0))[1]
    return total


def start_ours(data_dir: Path, models_file: Path) -> ServerProcess:
    return ServerProcess(data_dir, ROUTEUR_EXTRA_MODELS_FILE=str(models_file), ROUTEUR_RATE_LIMIT_PER_MINUTE="100000000").start()


def start_langgraph_dev(data_dir: Path, models_file: Path, n_jobs: int) -> LanggraphDevProcess:
    return LanggraphDevProcess(data_dir, n_jobs_per_worker=n_jobs, ROUTEUR_EXTRA_MODELS_FILE=str(models_file)).start()


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def print_table(title: str, headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def summary(values: Sequence[float]) -> tuple[float, float, float]:
    return statistics.median(values), percentile(values, 95), statistics.fmean(values)


async def langgraph_dev_events(client: Any, question: str = QUESTION, model: str = "paced") -> AsyncIterator[dict]:
    """One streamed V2 run on ``langgraph dev`` (SDK client): our protocol's events as they come."""
    async for part in client.runs.stream(
        None,
        "v2",
        input={"messages": [{"role": "user", "content": question}]},
        stream_mode="custom",
        context={"model": model, "project_id": "default"},
    ):
        if part.event == "custom":
            yield part.data


VOCABULARY = (
    "serveur réseau quota budget sauvegarde sécurité archive planning projet équipe document "
    "rapport contrat facture client fournisseur livraison stock commande paiement audit risque "
    "conformité incident maintenance déploiement version test qualité performance mémoire disque "
    "processeur licence utilisateur compte accès jeton session journal alerte seuil tableau"
).split()
"""A fixed French vocabulary for synthetic documents whose size, not wording, is measured."""


def synthetic_text(rng: random.Random, words: int = 60) -> str:
    return " ".join(rng.choice(VOCABULARY) for _ in range(words)) + "."

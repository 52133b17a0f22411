"""Shared by the benchmarks: a data dir with the demo corpus, the paced model, both servers,
percentiles and tables. Every benchmark prints its figures; none asserts timings."""

from __future__ import annotations

import asyncio
import json
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


def prepared_data_dir() -> Settings:
    settings = Settings(_env_file=None, data_dir=Path(tempfile.mkdtemp(prefix="routeur-bench-")))
    asyncio.run(ingest_demo(settings))
    return settings


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


async def langgraph_dev_events(client: Any) -> AsyncIterator[dict]:
    """One streamed V2 run on ``langgraph dev`` (SDK client): our protocol's events as they come."""
    async for part in client.runs.stream(
        None,
        "v2",
        input={"messages": [{"role": "user", "content": QUESTION}]},
        stream_mode="custom",
        context={"model": "paced", "project_id": "default"},
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

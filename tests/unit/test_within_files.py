"""The offline evaluation's second, file-focused search: documents first, then passages.

A store that honours its filters and ranks by a fixed order stands in for the real one, so a
test can place a file's answering chunk below the first search's candidates: only the search
within the kept files can bring it to the answerer."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from graphs.context import AgentContext
from graphs.dependencies import RunDependencies
from graphs.registry import get_agent, run_config
from graphs.streaming import run_to_completion, user_turn
from nodes.evaluation import with_file_passages
from nodes.models.factory import ModelRegistry
from nodes.rerank import rerank
from nodes.search import candidates, search_within_files
from retrievers.base import Hit, SearchMode
from routeur.settings import Settings

QUESTION = "Quelle taille de cache lru_cache garde-t-il par défaut ?"
FACT = "128"


def chunk(file_id: str, index: int, text: str, title: str, project_id: str = "p") -> Hit:
    return Hit(
        point_id=f"{file_id}-{index}",
        file_id=file_id,
        project_id=project_id,
        title=title,
        url=None,
        chunk_index=index,
        text=text,
        score=0.0,
        section="",
        page=None,
    )


@dataclass
class RankedStore:
    """Returns the chunks of the asked project and files in a fixed order (best first), as a
    real store ranks them for one question; records the filter of every call."""

    chunks: list[Hit]
    calls: list[list[str] | None] = field(default_factory=list)

    async def search(
        self,
        query: str,
        *,
        project_id: str,
        sources: list[str] | None = None,
        top_k: int = 5,
        mode: SearchMode = "hybrid",
        similarity: bool = False,
    ) -> list[Hit]:
        self.calls.append(list(sources) if sources else None)
        found = [h for h in self.chunks if h["project_id"] == project_id and (not sources or h["file_id"] in sources)]
        return [Hit(**{**h, "score": 1.0 / (rank + 1)}) for rank, h in enumerate(found[:top_k])]  # type: ignore[typeddict-item]


def corpus() -> list[Hit]:
    """Five files whose first passages match the question in part, then more candidates than the
    first search takes, then the passage of the first file that answers it."""
    functools = "functools — fonctions d'ordre supérieur"
    firsts = [
        chunk("functools", 0, "Le décorateur lru_cache garde en cache les résultats des appels de la fonction décorée.", functools),
        chunk("http", 0, "Le cache HTTP garde les réponses du serveur pour une durée donnée.", "Client HTTP"),
        chunk("disque", 0, "La taille du disque se lit avec shutil.disk_usage.", "Fichiers"),
        chunk("tri", 0, "Le tri garde par défaut l'ordre des éléments égaux.", "Tri"),
        chunk("tampon", 0, "La taille du tampon est fixée par défaut à huit kilo-octets.", "Entrées et sorties"),
    ]
    filler = [
        chunk("divers", n, f"Un passage numéro {n} sur les modules de la bibliothèque standard.", "Divers") for n in range(candidates(5))
    ]
    fact = chunk(
        "functools", 1, f"La taille maximale du cache de lru_cache vaut {FACT} par défaut ; maxsize=None la rend illimitée.", functools
    )
    return [*firsts, *filler, fact]


def ask(agent: str, store: RankedStore, **context):
    spec = get_agent(agent)
    deps = RunDependencies(settings=Settings(_env_file=None), store=store, models=ModelRegistry(Settings(_env_file=None)))  # type: ignore[arg-type]
    ctx = AgentContext(project_id="p", **context)
    return run_to_completion(
        spec.build(), user_turn(QUESTION), context=ctx, config=run_config(spec, ctx.max_search_rounds, dependencies=deps)
    )


async def test_the_within_file_search_filters_on_the_intersection_with_the_callers_sources():
    store = RankedStore([chunk("a", 0, "alpha", "A"), chunk("b", 0, "beta", "B"), chunk("a", 0, "autre projet", "A", project_id="q")])

    found = await search_within_files(store, "x", project_id="p", files=["a", "b"], sources=["a"], top_k=10)
    assert {h["file_id"] for h in found} == {"a"} and {h["project_id"] for h in found} == {"p"}
    assert store.calls == [["a"], ["a"]]  # dense and sparse, each on the intersection only

    store.calls.clear()
    # Files outside the caller's sources: nothing is searched (an empty filter would be the whole project).
    assert await search_within_files(store, "x", project_id="p", files=["b"], sources=["a"], top_k=10) == []
    assert await search_within_files(store, "x", project_id="p", files=[], sources=None, top_k=10) == []
    assert store.calls == []

    found = await search_within_files(store, "x", project_id="p", files=["b"], sources=None, top_k=10)
    assert {h["file_id"] for h in found} == {"b"} and store.calls == [["b"], ["b"]]


@pytest.mark.parametrize("agent", ["V1", "V2"])
async def test_the_answer_held_by_a_kept_file_below_the_first_candidates_reaches_the_answerer(agent):
    store = RankedStore(corpus())
    first_search = await store.search(QUESTION, project_id="p", top_k=candidates(5))
    assert "functools-1" not in {h["point_id"] for h in first_search}

    result = await ask(agent, store)

    cited = [s["file_id"] for s in result.sources]
    assert FACT in result.answer, result.answer
    assert cited[:2] == ["functools", "http"] and cited.count("functools") == 2
    assert any(call == ["functools", "http"] for call in store.calls), store.calls


@pytest.mark.parametrize("agent", ["V1", "V2"])
async def test_a_file_outside_the_callers_sources_never_comes_back_through_the_within_file_search(agent):
    allowed = ["http", "disque", "tri", "tampon", "divers"]
    store = RankedStore(corpus())

    result = await ask(agent, store, sources=allowed)

    assert {s["file_id"] for s in result.sources} <= set(allowed) and FACT not in result.answer
    assert all(call and set(call) <= set(allowed) for call in store.calls), store.calls
    assert ["http", "tri"] in store.calls  # the within-file search ran, on the first kept files


def test_a_kept_file_s_passage_takes_the_last_place_of_a_file_ranked_below_only_when_it_outranks_it():
    hits = corpus()[:5] + [corpus()[-1]]
    ranked = rerank(QUESTION, hits)
    kept = hits[:5]
    chosen = with_file_passages(ranked, kept, ["functools", "http"], QUESTION)
    assert [h["point_id"] for h in chosen] == ["functools-0", "http-0", "disque-0", "tri-0", "functools-1"]
    # Another file's passage never replaces one of the focus files, and a place is never added.
    assert with_file_passages(ranked, kept[:2], ["functools", "http"], QUESTION) == kept[:2]
    weak = chunk("functools", 2, "Voir aussi le module operator.", "functools — fonctions d'ordre supérieur")
    ranked = rerank(QUESTION, [*hits[:5], weak])
    assert with_file_passages(ranked, kept, ["functools", "http"], QUESTION) == kept

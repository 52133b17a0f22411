"""Agents V1 and V2 end to end on real retrieval (embedded Qdrant, local embeddings).

Offline runs use the real ``local-extractive`` model; LLM paths use scripted fakes that answer
through structured output exactly as a provider would."""

from __future__ import annotations

import asyncio
import re

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from graphs import events
from graphs.context import AgentContext
from graphs.dependencies import RunDependencies
from graphs.registry import AGENTS, get_agent, run_config
from graphs.streaming import run_to_completion, stream_events, user_turn
from nodes.evaluation import Relevance
from nodes.intent import IntentAnalysis, IntentWithStandalone
from nodes.models.factory import ModelRegistry
from retrievers.text import NOT_FOUND_FR
from routeur.settings import Settings
from tests.support.fakes import Fail, install_fake_model, remove_fake_model

DOCS = {
    "alpha": {
        "reseau.md": "# Configuration réseau\n\nLe service écoute sur le port 7860 par défaut. "
        "Le port se change avec la variable ROUTEUR_PORT au démarrage du serveur.",
        "quotas.md": "# Quotas\n\nLa limite de débit est de 10 requêtes par minute et par client. "
        "Au-delà, le serveur répond avec le code HTTP 429.",
    },
    "beta": {
        "confidentiel.md": "# Projet Beta\n\nLe port secret du projet beta est 9999. "
        "La limite de débit du projet beta est de 3 requêtes par minute.",
    },
}
PORT_QUESTION = "Sur quel port le service écoute-t-il par défaut ?"


@pytest.fixture(scope="module")
async def corpus(store_factory):
    """Two projects in one collection; returns {(project, filename): file_id}."""
    from retrievers.ingestion import ingest_bytes

    store = store_factory("graphs")
    ids = {}
    for project, files in DOCS.items():
        for name, text in files.items():
            result = await ingest_bytes(store, project_id=project, filename=name, data=text.encode())
            ids[(project, name)] = result.file_id
    return store, ids


MODELS = ModelRegistry(Settings(_env_file=None))
"""The registry these runs use: the tests' scripted fakes are added to it."""
RUN: dict[str, RunDependencies] = {}


def use_store(store) -> None:
    RUN["dependencies"] = RunDependencies(settings=Settings(_env_file=None), store=store, models=MODELS)


@pytest.fixture(autouse=True)
def use_corpus_store(corpus):
    use_store(corpus[0])
    yield
    RUN.clear()


def shape(evs: list[dict]) -> list[tuple]:
    """The event sequence with consecutive chunks folded into one, for exact comparison."""
    out: list[tuple] = []
    for ev in evs:
        if ev["event"] == "phase":
            item = ("phase", ev["data"]["phase"], ev["data"]["status"])
        else:
            item = (ev["event"],)
        if not (item == ("chunk",) and out and out[-1] == item):
            out.append(item)
    return out


DOCUMENTARY = [
    ("phase", "intent_analysis", "start"),
    ("phase", "intent_analysis", "complete"),
    ("phase", "search", "start"),
    ("phase", "search", "complete"),
    ("phase", "evaluation", "start"),
    ("phase", "evaluation", "complete"),
    ("sources",),
    ("phase", "generation", "start"),
    ("chunk",),
    ("phase", "generation", "complete"),
    ("done",),
]
CHIT_CHAT = [
    ("phase", "intent_analysis", "start"),
    ("phase", "intent_analysis", "complete"),
    ("phase", "generation", "start"),
    ("chunk",),
    ("phase", "generation", "complete"),
    ("done",),
]


async def ask(agent: str, question: str, checkpointer=None, thread_id: str | None = None, **ctx):
    spec = get_agent(agent)
    context = AgentContext(**{"project_id": "alpha", **ctx})
    config = run_config(spec, context.max_search_rounds, thread_id=thread_id, dependencies=RUN["dependencies"])
    return await run_to_completion(spec.build(checkpointer), user_turn(question), context=context, config=config)


@pytest.mark.parametrize("agent", ["V1", "V2"])
async def test_documentary_question_offline_event_sequence_and_citation(agent, corpus):
    _, ids = corpus
    result = await ask(agent, PORT_QUESTION)
    assert shape(result.events) == DOCUMENTARY
    for ev in result.events:
        events.parse_event(ev)  # every event matches the typed protocol
    intent = result.events[1]["data"]
    assert intent["intent"] == "question" and "port" in intent["keywords"].lower()
    assert result.events[3]["data"]["hits"] >= 1
    assert result.events[5]["data"]["kept"] >= 1
    assert "7860" in result.answer
    cited = {s["id"]: s for s in result.sources}
    assert "[1]" in result.answer and cited[1]["file_id"] == ids[("alpha", "reseau.md")]
    assert result.answer == "".join(e["data"]["content"] for e in result.events if e["event"] == "chunk")


@pytest.mark.parametrize("agent", ["V1", "V2"])
async def test_chit_chat_skips_search(agent):
    result = await ask(agent, "Bonjour !")
    assert shape(result.events) == CHIT_CHAT
    assert result.events[1]["data"]["intent"] == "chit_chat"
    assert result.sources == [] and result.answer


@pytest.mark.parametrize("agent", ["V1", "V2"])
async def test_sources_restrict_hits_and_projects_never_mix(agent, corpus):
    _, ids = corpus
    quotas = ids[("alpha", "quotas.md")]
    restricted = await ask(agent, PORT_QUESTION, sources=[quotas])
    assert {s["file_id"] for s in restricted.sources} <= {quotas}
    assert "7860" not in restricted.answer

    whole = await ask(agent, "Quel est le port secret du projet beta ?")
    beta = ids[("beta", "confidentiel.md")]
    assert beta not in {s["file_id"] for s in whole.sources}
    assert "9999" not in whole.answer

    in_beta = await ask(agent, "Quel est le port secret du projet beta ?", project_id="beta")
    assert beta in {s["file_id"] for s in in_beta.sources} and "9999" in in_beta.answer


@pytest.mark.parametrize("agent", ["V1", "V2"])
async def test_the_semantic_order_reads_the_store_s_similarities_and_keeps_the_bar(agent, corpus, monkeypatch):
    store, ids = corpus
    asked: list[tuple[str, bool]] = []
    search = store.search

    async def spy(query, **kwargs):
        hits = await search(query, **kwargs)
        if not kwargs.get("sources"):  # the project's searches; those within the kept files rank lexically
            asked.append((kwargs.get("mode", "hybrid"), all("similarity" in h for h in hits)))
        return hits

    monkeypatch.setattr(store, "search", spy)
    result = await ask(agent, PORT_QUESTION, semantic_weight=0.5)
    # Every search hands the reranker each hit's similarity (a sparse search only when asked).
    assert asked and all(has for _, has in asked)
    assert "7860" in result.answer and result.sources[0]["file_id"] == ids[("alpha", "reseau.md")]
    semantic_searches = len(asked)
    lexical = await ask(agent, PORT_QUESTION)
    assert lexical.sources[0]["file_id"] == ids[("alpha", "reseau.md")]
    # At weight 0 a dense hit still has its similarity (its score); the sparse side's vectors are not read.
    expected = {("dense", True)} if agent == "V1" else {("dense", True), ("sparse", False)}
    assert set(asked[semantic_searches:]) == expected
    # Whether to answer stays the lexical bar's decision, however close a passage is.
    nothing = await ask(agent, "Quel temps de cuisson pour une tarte aux pommes ?", semantic_weight=1.0)
    assert nothing.sources == [] and NOT_FOUND_FR in nothing.answer


async def test_v1_with_llm_uses_structured_intent_grading_and_cited_prompt():
    recorder = install_fake_model(
        MODELS, "fake-llm",
        [
            IntentAnalysis(intent="question", keywords="port défaut"),
            Relevance(relevant=[1]),
            "Le service écoute sur le port 7860 [1].",
        ],
    )
    try:
        result = await ask("V1", PORT_QUESTION, model="fake-llm")
    finally:
        remove_fake_model(MODELS, "fake-llm")
    assert shape(result.events) == DOCUMENTARY
    assert result.events[1]["data"]["keywords"] == "port défaut"
    assert result.answer == "Le service écoute sur le port 7860 [1]."
    assert len(result.sources) == 1
    generation_prompt = recorder.prompts[2]
    assert '<source id="1"' in generation_prompt[0].content and "7860" in generation_prompt[0].content
    assert "".join(e["data"]["content"] for e in result.events if e["event"] == "chunk") == result.answer


async def test_v2_loops_with_a_reformulated_query_until_relevant():
    recorder = install_fake_model(
        MODELS, "fake-llm",
        [
            IntentWithStandalone(intent="question", keywords="zzz", standalone_question="Quelle est la capitale du Pérou ?"),
            Relevance(relevant=[]),
            "limite de débit requêtes par minute",
            Relevance(relevant=[1]),
            "La limite est de 10 requêtes par minute [1].",
        ],
    )
    try:
        result = await ask("V2", "Combien de requêtes ?", model="fake-llm")
    finally:
        remove_fake_model(MODELS, "fake-llm")
    phases = [(e["data"]["phase"], e["data"]["status"]) for e in result.events if e["event"] == "phase"]
    assert phases.count(("search", "start")) == 2
    assert phases.count(("rewrite", "complete")) == 1
    rewrite = next(e for e in result.events if e["event"] == "phase" and e["data"]["phase"] == "rewrite" and e["data"]["status"] == "complete")
    assert rewrite["data"]["query"] == "limite de débit requêtes par minute" and rewrite["data"]["round"] == 1
    assert "Quelle est la capitale du Pérou ?" in recorder.prompts[2][0].content  # tried queries are listed
    assert result.sources and "10 requêtes" in result.sources[0]["snippet"]
    assert result.answer.endswith("[1].")


async def test_v2_does_not_search_again_a_reformulation_it_already_searched():
    recorder = install_fake_model(
        MODELS, "fake-llm",
        [
            IntentWithStandalone(intent="question", keywords="zzz", standalone_question="Quelle est la capitale du Pérou ?"),
            Relevance(relevant=[]),
            "Quelle est la capitale du Pérou ?",  # the query just searched: no second search
            "limite de débit requêtes par minute",
            Relevance(relevant=[1]),
            "La limite est de 10 requêtes par minute [1].",
        ],
    )
    try:
        result = await ask("V2", "Combien de requêtes ?", model="fake-llm")
    finally:
        remove_fake_model(MODELS, "fake-llm")
    phases = [(e["data"]["phase"], e["data"]["status"]) for e in result.events if e["event"] == "phase"]
    assert phases.count(("search", "start")) == 2 and phases.count(("evaluation", "start")) == 2
    rewrites = [e["data"] for e in result.events if e["event"] == "phase" and e["data"]["phase"] == "rewrite" and e["data"]["status"] == "complete"]
    assert [(r["query"], r["round"]) for r in rewrites] == [("Quelle est la capitale du Pérou ?", 1), ("limite de débit requêtes par minute", 2)]
    assert len(recorder.prompts) == 6  # intent, 2 gradings, 2 reformulations, generation
    assert result.answer.endswith("[1].")


async def test_v2_answers_when_its_last_reformulation_repeats_a_searched_query():
    install_fake_model(
        MODELS, "fake-llm",
        [
            IntentWithStandalone(intent="question", keywords="pérou", standalone_question="Capitale du Pérou ?"),
            Relevance(relevant=[]),
            "Lima",
            Relevance(relevant=[]),
            "Capitale du Pérou ?",
        ],
    )
    try:
        result = await ask("V2", "Capitale du Pérou ?", model="fake-llm")
    finally:
        remove_fake_model(MODELS, "fake-llm")
    phases = [(e["data"]["phase"], e["data"]["status"]) for e in result.events if e["event"] == "phase"]
    assert phases.count(("search", "start")) == 2 and phases.count(("rewrite", "complete")) == 2
    assert result.answer == NOT_FOUND_FR and result.sources == []


async def test_v2_says_not_found_after_bounded_rounds_without_calling_the_generator():
    recorder = install_fake_model(
        MODELS, "fake-llm",
        [
            IntentWithStandalone(intent="question", keywords="pérou", standalone_question="Capitale du Pérou ?"),
            Relevance(relevant=[]),
            "Lima",
            Relevance(relevant=[]),
            "Pérou capitale",
            Relevance(relevant=[]),
        ],
    )
    try:
        result = await ask("V2", "Capitale du Pérou ?", model="fake-llm")
    finally:
        remove_fake_model(MODELS, "fake-llm")
    phases = [(e["data"]["phase"], e["data"]["status"]) for e in result.events if e["event"] == "phase"]
    assert phases.count(("search", "start")) == 3  # first search + at most 2 extra rounds
    assert result.answer == NOT_FOUND_FR
    assert result.sources == []
    assert len(recorder.prompts) == 6  # intent, 3 gradings, 2 reformulations: no generation call


async def test_v1_offline_answers_even_without_relevant_hits_but_v2_is_honest():
    question = "Quelle est la recette de la tarte tatin ?"
    v2 = await ask("V2", question)
    assert v2.answer == NOT_FOUND_FR
    v1 = await ask("V1", question)
    assert v1.ok and v1.answer


async def test_provider_failure_mid_stream_emits_error_and_ends():
    install_fake_model(
        MODELS, "fake-llm",
        [IntentAnalysis(intent="question", keywords="port"), Relevance(relevant=[1]), Fail(RuntimeError("upstream 500"), after_words=3)],
    )
    try:
        result = await ask("V1", PORT_QUESTION, model="fake-llm")
    finally:
        remove_fake_model(MODELS, "fake-llm")
    names = [e["event"] for e in result.events]
    streamed = "".join(e["data"]["content"] for e in result.events if e["event"] == "chunk")
    assert streamed.split() == ["mot"] * 3
    assert names[-1] == "error" and "done" not in names
    assert result.error == {"phase": "generation", "message": "LLM request failed: upstream 500"}


async def test_search_failure_is_reported_with_its_phase(monkeypatch, corpus):
    store = corpus[0]

    async def broken(*args, **kwargs):
        raise ConnectionError("qdrant down")

    monkeypatch.setattr(store, "search", broken)
    result = await ask("V2", PORT_QUESTION)
    assert result.error is not None and result.error["phase"] == "search" and "qdrant down" in result.error["message"]


@pytest.mark.parametrize("delay_s", [0.0, 0.01])
async def test_chunks_ready_together_go_out_as_one_and_paced_tokens_one_by_one(delay_s):
    answer = " ".join(f"mot{n}" for n in range(30)) + " [1]."
    install_fake_model(MODELS, "llm", [IntentAnalysis(intent="question", keywords="port"), Relevance(relevant=[1]), answer], delay_s=delay_s)
    try:
        result = await ask("V1", PORT_QUESTION, model="llm")
    finally:
        remove_fake_model(MODELS, "llm")
    chunks = [e["data"]["content"] for e in result.events if e["event"] == "chunk"]
    assert "".join(chunks) == result.answer == answer
    if delay_s:
        assert len(chunks) == len(answer.split())
    else:
        assert len(chunks) < 5
    assert result.events[-1]["event"] == "done" and result.error is None


async def test_consumer_leaving_cancels_the_model_stream():
    recorder = install_fake_model(
        MODELS, "slow-llm",
        [IntentAnalysis(intent="question", keywords="port"), Relevance(relevant=[1]), " ".join(["mot"] * 200)],
        delay_s=0.02,
    )
    spec = get_agent("V1")
    context = AgentContext(project_id="alpha", model="slow-llm")
    stream = stream_events(spec.build(None), user_turn(PORT_QUESTION), context=context, config=run_config(spec, 0, dependencies=RUN["dependencies"]))
    try:
        async for ev in stream:
            if ev["event"] == "chunk":
                break
        await stream.aclose()
        sent = recorder.chunks_sent
        await asyncio.sleep(0.3)  # a running stream would send ~15 more chunks by now
        assert recorder.streams_cancelled == 1
        assert recorder.chunks_sent == sent < 10
        assert recorder.streams_finished == 0
    finally:
        remove_fake_model(MODELS, "slow-llm")


async def test_sessions_keep_history_and_reset_per_turn_fields():
    saver = InMemorySaver()
    first = await ask("V2", PORT_QUESTION, checkpointer=saver, thread_id="t1")
    second = await ask("V2", "Et la limite de débit ?", checkpointer=saver, thread_id="t1")
    intent = second.events[1]["data"]
    assert intent["intent"] == "follow_up"
    assert first.sources and second.sources
    assert "10 requêtes" in second.answer
    state = await AGENTS["V2"].build(saver).aget_state({"configurable": {"thread_id": "t1"}})
    assert len(state.values["messages"]) == 4
    assert state.values["rounds"] == 0 and state.values["answer"] == second.answer
    assert state.values["hits"] == [] and state.values["sources"] == second.sources  # candidates are not kept, sources are


async def test_offline_default_answers_a_demo_corpus_question_with_the_right_citation(store_factory):
    from pathlib import Path

    from retrievers.ingestion import file_id_for, ingest_paths

    store = store_factory("demo")
    await ingest_paths(store, [Path(__file__).parent.parent.parent / "demo" / "corpus"], project_id="default", progress=False)
    use_store(store)
    for agent in ("V1", "V2"):
        result = await ask(agent, "Sur quel port le serveur écoute-t-il par défaut ?", project_id="default")
        assert "7860" in result.answer
        cited = {int(n) for n in re.findall(r"\[(\d+)\]", result.answer)}
        by_id = {s["id"]: s for s in result.sources}
        assert cited and cited <= set(by_id)  # every citation maps to a returned source
        assert any(by_id[n]["file_id"] == file_id_for("default", "presentation.md") and "7860" in by_id[n]["snippet"] for n in cited)


async def test_a_session_turn_writes_its_checkpoint_once_at_the_end_and_keeps_history():
    class CountingSaver(InMemorySaver):
        puts = 0

        async def aput(self, *args, **kwargs):
            CountingSaver.puts += 1
            return await super().aput(*args, **kwargs)

    saver = CountingSaver()
    first = await ask("V2", PORT_QUESTION, checkpointer=saver, thread_id="once")
    assert first.ok and CountingSaver.puts == 1  # not one per step
    second = await ask("V2", "Et en production ?", checkpointer=saver, thread_id="once")
    assert second.ok and CountingSaver.puts == 2
    state = await get_agent("V2").build(saver).aget_state({"configurable": {"thread_id": "once"}})
    humans = [m.content for m in state.values["messages"] if m.type == "human"]
    assert humans == [PORT_QUESTION, "Et en production ?"]

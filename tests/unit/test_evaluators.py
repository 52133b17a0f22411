"""Evaluators and report on hand-made cases whose scores are known in advance."""

from __future__ import annotations

import json

import pytest

from nodes.models.factory import ModelRegistry
from routeur.evaluation import DatasetError, load_dataset, summarize, summary_table, write_results
from routeur.evaluation import evaluators as ev
from routeur.evaluation.dataset import Example
from routeur.evaluation.report import p95
from routeur.evaluation.runner import make_row
from routeur.evaluation.targets import Answer
from routeur.settings import Settings
from tests.support.fakes import install_fake_model, remove_fake_model

MODELS = ModelRegistry(Settings(_env_file=None))


def source(n: int, file_id: str) -> dict:
    return {"id": n, "file_id": file_id, "title": file_id, "url": None, "score": 1.0 / n, "snippet": ""}


def answer(text: str, *file_ids: str, metadata: dict | None = None, error: dict | None = None) -> Answer:
    return Answer(answer=text, sources=[source(n, f) for n, f in enumerate(file_ids, start=1)], metadata=metadata or {}, error=error)


EXAMPLE = Example(id="q1", question="Quel port ?", file_ids=["api"], facts=["7860", "Litestar"], reference="Le port 7860.")


@pytest.mark.parametrize(
    ("cited", "k", "hit", "mrr"),
    [
        (["api"], 5, 1.0, 1.0),
        (["faq", "api"], 5, 1.0, 0.5),
        (["faq", "faq", "api"], 2, 0.0, 1 / 3),
        (["faq", "securite"], 5, 0.0, 0.0),
        ([], 5, 0.0, 0.0),
    ],
)
def test_retrieval_hit_at_k_and_reciprocal_rank(cited, k, hit, mrr):
    assert ev.retrieval(EXAMPLE, answer("x", *cited), k) == {"hit_at_k": hit, "mrr": pytest.approx(mrr)}


def test_retrieval_does_not_apply_without_expected_files():
    assert ev.retrieval(Example(question="Bonjour"), answer("x", "api"), 5) == {"hit_at_k": None, "mrr": None}


def test_citations_valid_when_every_marker_names_a_source_inside_the_filter():
    scores = ev.citations(EXAMPLE, answer("Port 7860 [1], serveur [2].", "api", "faq"), {"api", "faq"})
    assert scores == {"citation_validity": 1.0, "dangling_citations": [], "sources_outside_filter": []}


def test_a_marker_without_its_source_is_invalid():
    scores = ev.citations(EXAMPLE, answer("Port 7860 [1][3] et [2, 4].", "api", "faq"), None)
    assert scores["citation_validity"] == 0.0 and scores["dangling_citations"] == [3, 4]


def test_an_index_quoted_from_a_passage_is_not_a_citation():
    scores = ev.citations(EXAMPLE, answer("argv[0] est le nom du script [1], voir a[2].", "api"), None)
    assert scores["citation_validity"] == 1.0 and scores["dangling_citations"] == []
    assert ev.cited_numbers("sys.argv[0] [1][2] et [3, 4]") == {1, 2, 3, 4}


def test_a_source_outside_the_request_filter_or_project_is_invalid():
    filtered = Example(question="q", sources=["api"], file_ids=["api"])
    outside = ev.citations(filtered, answer("Voir [1] et [2].", "api", "faq"), {"api", "faq"})
    assert outside["citation_validity"] == 0.0 and outside["sources_outside_filter"] == ["faq"]
    other_project = ev.citations(EXAMPLE, answer("Voir [1].", "elsewhere"), {"api", "faq"})
    assert other_project["citation_validity"] == 0.0 and other_project["sources_outside_filter"] == ["elsewhere"]


def test_fact_recall_ignores_case_accents_and_spacing():
    example = Example(question="q", facts=["7860", "Réponse  Honnête", "Qdrant"])
    scores = ev.facts(example, answer("Le port 7860 et une REPONSE honnete."))
    assert scores["fact_recall"] == pytest.approx(2 / 3) and scores["facts_missing"] == ["Qdrant"]
    assert ev.facts(Example(question="q"), answer("x"))["fact_recall"] is None


def test_abstention_rewards_citing_nothing_where_no_file_answers():
    nothing = Example(question="Quelle est la capitale du Pérou ?")
    assert ev.abstention(nothing, answer("Je n'ai rien trouvé."))["abstention"] == 1.0
    assert ev.abstention(nothing, answer("Lima [1].", "faq"))["abstention"] == 0.0
    assert ev.abstention(EXAMPLE, answer("x"))["abstention"] is None


def test_performance_reads_the_answer_metrics_and_keeps_unknowns_null():
    meta = {
        "latency_s": 1.5,
        "time_to_first_token_s": 0.25,
        "usage": {"total_tokens": 120},
        "pricing": {"total_cost": 0.002},
        "emissions_gCO2eq": None,
        "energy_kWh": None,
    }
    scores = ev.performance(answer("x", metadata=meta))
    assert scores == {
        "error": 0.0,
        "latency_s": 1.5,
        "time_to_first_token_s": 0.25,
        "total_tokens": 120,
        "cost_eur": 0.002,
        "emissions_gCO2eq": None,
        "energy_kWh": None,
    }
    assert ev.performance(answer("", error={"phase": "generation", "message": "boom"}))["error"] == 1.0


def test_summary_means_and_p95_skip_what_does_not_apply():
    rows = []
    for agent, hits, latencies in (("V1", [1, 0, 1, None], [1.0, 2.0, 3.0, 4.0]), ("V2", [1, 1, 1, None], [0.5] * 4)):
        for n, (hit, latency) in enumerate(zip(hits, latencies, strict=True)):
            example = Example(id=f"q{n}", question="q", file_ids=["api"] if hit is not None else [])
            cited = ("api",) if hit else ("faq",) if hit == 0 else ()
            rows.append(
                make_row(
                    agent,
                    example,
                    answer("x", *cited, metadata={"latency_s": latency}),
                    ev.score(example, answer("x", *cited, metadata={"latency_s": latency}), k=5),
                )
            )
    summary = summarize(rows)
    assert summary["V1"]["hit_at_k"].mean == pytest.approx(2 / 3) and summary["V1"]["hit_at_k"].n == 3
    assert summary["V2"]["hit_at_k"].mean == 1.0
    assert summary["V1"]["latency_s"].mean == pytest.approx(2.5) and summary["V1"]["latency_s"].p95 == 4.0
    assert summary["V1"]["judge_score"].mean is None
    table = summary_table(summary, k=3)
    header, _, *lines = table.splitlines()
    assert header.split()[:5] == ["metric", "V1", "mean", "V1", "p95"]
    hit_line = next(line for line in lines if line.startswith("hit@3"))
    assert hit_line.split()[2:6] == ["0.667", "1.000", "1.000", "1.000"]


def test_p95_is_an_observed_value():
    assert p95(list(range(1, 101))) == 95
    assert p95([3.0]) == 3.0


def test_results_file_has_one_json_row_per_answer(tmp_path):
    row = make_row("V2", EXAMPLE, answer("Port 7860 [1].", "api"), ev.score(EXAMPLE, answer("Port 7860 [1].", "api"), k=5))
    path = write_results([row, row], tmp_path / "out" / "results.jsonl")
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 2 and lines[0]["scores"]["fact_recall"] == 0.5 and lines[0]["details"]["facts_missing"] == ["Litestar"]


def test_dataset_errors_name_the_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"question": "Un"}\n\n{"question": "Deux", "file_ids": "pas une liste"}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"d.jsonl:3: file_ids"):
        load_dataset(path)
    path.write_text('{"question": "Un"}\n{"question": "Deux", "colour": 1}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r":2: colour"):
        load_dataset(path)
    path.write_text('{"id": "a", "question": "Un"}\n{"id": "a", "question": "Deux"}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match="duplicate id 'a'"):
        load_dataset(path)
    path.write_text("{pas du json\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="malformed JSON"):
        load_dataset(path)
    path.write_text('{"question": "Un"}\n{"question": "   "}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=":2: question is empty"):
        load_dataset(path)


def test_dataset_numbers_examples_and_applies_defaults(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"question": "Un"}\n{"id": "x", "question": "Deux", "project_id": "p", "sources": ["f"]}\n', encoding="utf-8")
    first, second = load_dataset(path)
    assert (first.id, first.project_id, first.file_ids) == ("q001", "default", [])
    assert (second.id, second.project_id, second.sources) == ("x", "p", ["f"])


async def test_the_judge_grades_with_a_language_model_and_skips_what_it_cannot():
    recorder = install_fake_model(MODELS, "fake-judge", [ev.Verdict(reasoning="States the port.", verdict="partially_correct")])
    try:
        judge = ev.Judge("fake-judge", MODELS)
        graded = await judge(EXAMPLE, answer("Le port est 7860 [1].", "api"))
        assert graded == {"judge_score": 0.5, "judge_reasoning": "States the port."}
        prompt = "\n".join(str(m.content) for m in recorder.prompts[0])
        assert "Le port 7860." in prompt and "Le port est 7860 [1]." in prompt and "7860; Litestar" in prompt
        assert (await judge(Example(question="Bonjour"), answer("Salut")))["judge_score"] is None
        assert (await judge(EXAMPLE, answer("", error={"phase": "x", "message": "y"})))["judge_score"] == 0.0
        assert len(recorder.prompts) == 1  # neither skipped case asked the model
    finally:
        remove_fake_model(MODELS, "fake-judge")


def test_the_offline_model_cannot_judge():
    with pytest.raises(ValueError, match="needs a language model"):
        ev.Judge("local-extractive", MODELS)


def test_default_judge_needs_a_real_provider(settings_factory, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    assert ev.default_judge_model(settings_factory()) is None
    assert ev.default_judge_model(settings_factory(mistral_api_key="k")) == "mistral-small-latest"
    assert ev.default_judge_model(settings_factory(openai_api_key="k", eval_judge_model="gpt-4o")) == "gpt-4o"


async def test_a_failing_judge_leaves_no_score_and_keeps_the_answer():
    install_fake_model(MODELS, "fake-judge-down", [RuntimeError("provider down")])
    try:
        graded = await ev.Judge("fake-judge-down", MODELS)(EXAMPLE, answer("Le port est 7860 [1].", "api"))
    finally:
        remove_fake_model(MODELS, "fake-judge-down")
    assert graded["judge_score"] is None and "provider down" in graded["judge_error"]


class RecordingClient:
    """A client that answers each turn with its number and records what it was sent."""

    def __init__(self):
        self.calls: list[tuple[str, list[dict[str, str]] | None]] = []

    async def complete(self, message, *, history=None, **options):
        from types import SimpleNamespace

        self.calls.append((message, history))
        return SimpleNamespace(response=f"réponse {len(self.calls)}")

    async def complete_stream(self, message, *, history=None, **options):
        self.calls.append((message, history))
        yield {"event": "done", "data": {"answer": "fin", "sources": []}}


async def test_the_server_target_sends_a_follow_up_with_its_earlier_turns_as_history():
    from routeur.evaluation.targets import ServerTarget

    client = RecordingClient()
    example = Example(id="f1", question="Et sous Windows ?", history=["Comment activer venv ?", "Et sous fish ?"])
    result = await ServerTarget("V2", client).answer(example)  # type: ignore[arg-type]
    assert result.error is None
    assert client.calls == [
        ("Comment activer venv ?", None),
        ("Et sous fish ?", [{"role": "user", "content": "Comment activer venv ?"}, {"role": "assistant", "content": "réponse 1"}]),
        (
            "Et sous Windows ?",
            [
                {"role": "user", "content": "Comment activer venv ?"},
                {"role": "assistant", "content": "réponse 1"},
                {"role": "user", "content": "Et sous fish ?"},
                {"role": "assistant", "content": "réponse 2"},
            ],
        ),
    ]

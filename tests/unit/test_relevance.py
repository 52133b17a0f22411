"""The relevance stages on hand-made text: structure chunking, the sparse analysis, fusion, the
reranker, the offline abstention rule and the extractive answer."""

from __future__ import annotations

import statistics

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from nodes.evaluation import MIN_PASSAGE_SUPPORT, MIN_SUPPORT, supported, unknown_names
from nodes.intent import _heuristic
from nodes.lexical import is_chit_chat
from nodes.models.extractive import extract_answer
from nodes.rerank import FILE_WEIGHT, Scored, by_file_evidence, interleave_files, rerank, semantic
from retrievers import sparse
from retrievers.base import Chunk, Hit
from retrievers.chunking import chunk_document
from retrievers.fusion import FusionConfig, dbsf, fuse, rrf
from retrievers.loaders import load_document
from retrievers.schema import with_similarity
from retrievers.sparse import SparseEncoder
from retrievers.text import sentences
from routeur.settings import Settings


def hit(
    pid: str, text: str, score: float = 1.0, *, title: str = "Doc", section: str = "", file_id: str = "f", similarity: float | None = None
) -> Hit:
    found = Hit(point_id=pid, file_id=file_id, project_id="p", title=title, url=None, chunk_index=0, text=text, score=score, section=section, page=None)
    if similarity is not None:
        found["similarity"] = similarity
    return found


# -- chunking -------------------------------------------------------------------------------------


def test_a_paragraph_behind_a_hash_is_text_and_its_first_sentence_the_title():
    paragraph = "Ce module constitue une interface au ramasse-miettes. " + "Il peut être désactivé pour du code sans cycles. " * 3 + "On le désactive avec gc.disable()."
    data = f"# {paragraph}\n\nLe module contient les fonctions suivantes.\n".encode()
    assert load_document("gc.md", data).title == "Ce module constitue une interface au ramasse-miettes."
    chunks = chunk_document(f"# {paragraph}\n\nLe module contient les fonctions suivantes.", chunk_size=900, chunk_overlap=0)
    assert chunks[0].section == "" and "gc.disable()" in chunks[0].text
    # The answerer and the reranker read it as text too: its sentences can be quoted.
    quoted = [sentence for _, sentence in sentences(chunks[0].text)]
    assert "On le désactive avec gc.disable()." in quoted and quoted[-1] == "Le module contient les fonctions suivantes."
    assert all(heading == "" for heading, _ in sentences(chunks[0].text))
    assert sentences("# Installation\n\nLancez pip install routeur.") == [("Installation", "Lancez pip install routeur.")]


def test_a_short_question_line_before_its_answer_is_a_heading():
    text = "Combien d'octets mon jeton doit-il comporter ?\n\nUne longueur de 32 octets est considérée suffisante pour les usages typiques."
    assert [c.section for c in chunk_document(text, chunk_size=900, chunk_overlap=0)] == ["Combien d'octets mon jeton doit-il comporter ?"]


def test_thanks_with_an_elided_word_are_chit_chat():
    assert is_chit_chat("Merci beaucoup, c'est très clair.") and is_chit_chat("Bonjour, tu peux m'aider ?")
    assert not is_chit_chat("Merci de me dire comment désactiver le ramasse-miettes et récupérer les cycles")


def test_markdown_headings_give_each_chunk_its_section_path():
    text = "# Guide\n\nIntro du guide.\n\n## Installation\n\nInstaller le paquet.\n\n### Linux\n\nUtiliser apt.\n\n## Usage\n\nLancer."
    chunks = chunk_document(text, chunk_size=30, chunk_overlap=0)
    assert [(c.section, c.text) for c in chunks] == [
        ("Guide", "Intro du guide."),
        ("Guide › Installation", "Installer le paquet."),
        ("Guide › Installation › Linux", "Utiliser apt."),
        ("Guide › Usage", "Lancer."),
    ]


def test_plain_heading_lines_open_sections_below_markdown_levels():
    text = "# Erreurs\n\nGestion des exceptions\n\nUne instruction try attrape les erreurs levées.\n\nUne phrase finie.\n\nSuite du texte ici."
    chunks = chunk_document(text, chunk_size=60, chunk_overlap=0)
    assert chunks[0].section == "Erreurs › Gestion des exceptions"
    assert chunks[0].text.startswith("Une instruction try")
    # A sentence with its final period is text, not a heading.
    assert all("Une phrase finie." not in c.section for c in chunks)


def test_small_sibling_sections_are_packed_and_keep_their_heading_line():
    text = "# T\n\n## A\n\nCourt A.\n\n## B\n\nCourt B."
    [chunk] = chunk_document(text, chunk_size=200, chunk_overlap=0)
    assert chunk.section == "T › A" and chunk.text == "Court A.\n\n## B\n\nCourt B."


def test_pages_are_numbered_and_a_section_continues_across_pages():
    chunks = chunk_document(["# Rapport\n\nPremière page.", "Deuxième page."], chunk_size=100, chunk_overlap=0, paginated=True)
    assert [(c.page, c.section) for c in chunks] == [(1, "Rapport"), (2, "Rapport")]


def test_a_long_section_is_cut_under_the_size_and_a_code_fence_stays_whole():
    body = "Une phrase assez longue pour remplir. " * 10
    chunks = chunk_document(f"# T\n\n{body}\n\n```\nx = 1\n\ny = 2\n```", chunk_size=120, chunk_overlap=0)
    assert len(chunks) > 2 and all(len(c.text) <= 120 for c in chunks)
    assert any("x = 1\n\ny = 2" in c.text for c in chunks)


def test_indexed_text_names_the_title_once_then_the_section_as_a_heading_line():
    assert Chunk("corps", "Guide › Installation").indexed_text("Guide") == "# Guide › Installation\ncorps"
    assert Chunk("corps", "Installation").indexed_text("Guide") == "# Guide › Installation\ncorps"
    assert Chunk("corps").indexed_text("") == "corps"


# -- sparse ---------------------------------------------------------------------------------------


def test_heading_terms_weigh_more_than_the_same_terms_in_the_text():
    encoder = SparseEncoder()
    in_heading = encoder.encode_document("# Sauvegarde\nLe disque est plein.")
    in_text = encoder.encode_document("Sauvegarde\nLe disque est plein.")
    term = sparse.term_id("sauvegard")
    weight = dict(zip(in_heading.indices, in_heading.values, strict=True))[term]
    assert weight > dict(zip(in_text.indices, in_text.values, strict=True))[term]


def test_code_names_are_terms_whole_and_elided_words_are_dropped():
    assert {"ensure_ascii", "gc.disable"} <= sparse.terms("Passez ensure_ascii à gc.disable()")
    assert sparse.tokens("lorsqu'il jusqu'à l'exception") == ["exception"]


# -- fusion ---------------------------------------------------------------------------------------


def test_weighted_rrf_sums_weight_over_rank():
    a, b, c = hit("a", ""), hit("b", ""), hit("c", "")
    fused = rrf([[a, b], [b, c]], [1.0, 2.0], k=1)
    assert [h["point_id"] for h in fused] == ["b", "c", "a"]
    assert fused[0]["score"] == 1 / 3 + 2 / 2


def test_dbsf_lets_a_clear_sparse_leader_win_over_a_flat_dense_list():
    dense = [hit("d1", "", 0.52), hit("s1", "", 0.51), hit("d2", "", 0.50)]
    sparse_hits = [hit("s1", "", 12.0), hit("d1", "", 2.0), hit("d3", "", 1.0)]
    assert dbsf([dense, sparse_hits], [0.5, 1.0])[0]["point_id"] == "s1"
    assert fuse(dense, sparse_hits, FusionConfig("rrf", 1.0, 1.0))[0]["point_id"] in {"d1", "s1"}


def test_dbsf_maps_each_list_by_its_mean_plus_or_minus_three_deviations():
    scores = [9.0, 4.0, 3.5, 1.0, 0.5]
    mean, deviation = statistics.fmean(scores), statistics.pstdev(scores)
    low, high = mean - 3 * deviation, mean + 3 * deviation
    fused = dbsf([[hit(f"p{i}", "", s) for i, s in enumerate(scores)]], [2.0])
    assert [h["score"] for h in fused] == pytest.approx([2.0 * (s - low) / (high - low) for s in scores], rel=1e-12)
    assert dbsf([[hit("only", "", 3.0)]], [1.0])[0]["score"] == 1.0


# -- reranking and abstention -------------------------------------------------------------------------


def test_the_passage_holding_the_question_words_together_ranks_first():
    question = "Comment augmenter la limite de récursion ?"
    scattered = hit("x", "La limite du disque. Une autre phrase sans rapport.", 1.0)
    together = hit("y", "On peut augmenter la limite de récursion avec setrecursionlimit.", 0.8)
    ranked = rerank(question, [scattered, together])
    assert ranked[0].hit["point_id"] == "y"
    assert ranked[0].support > ranked[1].support


def test_nothing_is_kept_when_no_passage_supports_the_question():
    question = "Comment déployer une application Flask sur AWS ?"
    unrelated = [hit("a", "Le module csv lit les fichiers tabulés."), hit("b", "Les fichiers csv ont des champs.")]
    assert supported(rerank(question, unrelated), top_k=5) == []
    related = [hit("c", "Déployer une application Flask sur AWS demande un conteneur.")]
    scored = rerank(question, related)
    assert scored[0].support >= MIN_SUPPORT and supported(scored, top_k=5) == [related[0]]


def scored(pid: str, file_id: str, score: float) -> Scored:
    return Scored(hit(pid, f"Passage {pid}.", score, file_id=file_id), score, coverage=0.5, proximity=0.5, heading=0.0)


def test_one_file_s_passages_leave_room_for_the_next_file():
    question = "Comment augmenter la limite de récursion ?"
    same_file = [hit(f"a{n}", f"On peut augmenter la limite de récursion, cas {n}.", 1.0 - n / 100, file_id="a") for n in range(3)]
    other = hit("b", "Augmenter la limite de récursion : sys.setrecursionlimit.", 0.9, file_id="b")
    ranked = rerank(question, [*same_file, other])
    assert [s.hit["file_id"] for s in ranked[:3]] == ["a", "a", "a"]
    kept = supported(ranked, top_k=2, question=question)
    assert [h["file_id"] for h in kept] == ["a", "b"]
    assert [h["point_id"] for h in supported(ranked, top_k=5, question=question)][1:] == ["b", "a1", "a2"]


def test_interleaving_takes_each_file_s_best_passage_then_each_file_s_second():
    ranked = [scored("a1", "a", 0.9), scored("a2", "a", 0.8), scored("b1", "b", 0.7), scored("a3", "a", 0.6), scored("b2", "b", 0.5)]
    assert [s.hit["point_id"] for s in interleave_files(ranked)] == ["a1", "b1", "a2", "b2", "a3"]


def test_a_file_with_several_matching_candidates_comes_before_a_single_slightly_better_passage():
    lone, backed = scored("x", "x", 0.50), scored("y1", "y", 0.48)
    backing = scored("y2", "y", 0.30)
    assert 0.48 + FILE_WEIGHT * 0.30 > 0.50
    assert [s.hit["point_id"] for s in by_file_evidence([lone, backed], [lone, backed])] == ["x", "y1"]
    reordered = by_file_evidence([lone, backed], [lone, backed, backing])
    # Only the order changes: the chosen passages stay the chosen ones.
    assert [s.hit["point_id"] for s in reordered] == ["y1", "x"]


def test_file_evidence_keeps_the_order_of_the_passages_within_a_file():
    first, second = scored("y1", "y", 0.40), scored("y2", "y", 0.35)
    lone = scored("x", "x", 0.41)
    assert [s.hit["point_id"] for s in by_file_evidence([lone, first, second], [lone, first, second])] == ["y1", "x", "y2"]


# -- the semantic signal ---------------------------------------------------------------------------

LENGTH_QUESTION = "En morceaux de quelle longueur les textes sont-ils coupés avant d'être indexés ?"


def length_candidates() -> list[Hit]:
    """One passage sharing the question's words without answering it, one answering it in other
    words (few shared words, the dense model close), one neither."""
    return [
        hit("api", "Le champ longueur de la requête limite les textes envoyés à l'API.", 1.0, file_id="api", similarity=0.50),
        hit("chunks", "À l'ingestion, chaque document est découpé en passages d'au plus 900 caractères, indexés ensuite.", 0.9, file_id="deploy", similarity=0.85),
        hit("faq", "La déconnexion du client annule l'appel en cours.", 0.8, file_id="faq", similarity=0.60),
    ]


def test_a_passage_saying_the_question_in_other_words_ranks_up_and_is_kept_with_the_semantic_order():
    candidates = length_candidates()
    lexical = rerank(LENGTH_QUESTION, candidates)
    support = {s.hit["point_id"]: s.support for s in lexical}
    assert support["api"] >= MIN_SUPPORT > support["chunks"] >= MIN_PASSAGE_SUPPORT and support["faq"] < MIN_PASSAGE_SUPPORT
    # Lexical alone: the passage sharing the question's words wins, the answer is not kept.
    assert [s.hit["point_id"] for s in lexical][:1] == ["api"]
    assert [h["point_id"] for h in supported(lexical, top_k=5, question=LENGTH_QUESTION)] == ["api"]
    fused = rerank(LENGTH_QUESTION, candidates, semantic_weight=0.5)
    assert [s.hit["point_id"] for s in fused] == ["chunks", "api", "faq"]
    # The support (the bar) stays lexical; the passage with no shared word stays out however close.
    assert {s.hit["point_id"]: s.support for s in fused} == support
    kept = supported(fused, top_k=5, question=LENGTH_QUESTION, semantic=True)
    assert [h["point_id"] for h in kept] == ["chunks", "api"]


def test_a_close_passage_is_not_kept_when_no_passage_clears_the_bar():
    question = "Quel temps de cuisson pour une tarte aux pommes ?"
    candidates = [
        hit("a", "Le temps d'exécution se mesure avec timeit.", 1.0, file_id="a", similarity=0.95),
        hit("b", "Le module csv lit les fichiers tabulés.", 0.9, file_id="b", similarity=0.90),
    ]
    fused = rerank(question, candidates, semantic_weight=1.0)
    assert max(s.support for s in fused) < MIN_SUPPORT
    assert supported(fused, top_k=5, question=question, semantic=True) == []


def test_the_names_rule_holds_with_the_semantic_order():
    question = "Comment formater mon code avec Black dans VS Code ?"
    candidates = [
        hit("a", "Pour formater le code, la fonction format renvoie une chaîne formatée.", 1.0, file_id="a", similarity=0.9),
        hit("b", "Le code formaté suit le guide de style.", 0.9, file_id="b", similarity=0.8),
    ]
    fused = rerank(question, candidates, semantic_weight=0.5)
    assert max(s.support for s in fused) >= MIN_SUPPORT
    assert supported(fused, top_k=5, question=question, semantic=True) == []


def test_the_semantic_order_places_files_and_each_file_s_passages_keep_their_lexical_order():
    question = "Comment augmenter la limite de récursion ?"
    candidates = [
        hit("a1", "On peut augmenter la limite de récursion avec setrecursionlimit.", 1.0, file_id="a", similarity=0.2),
        hit("b1", "La limite de récursion protège la pile.", 0.9, file_id="b", similarity=0.3),
        hit("a2", "La récursion profonde consomme la pile.", 0.8, file_id="a", similarity=0.9),
    ]
    lexical = [s.hit["point_id"] for s in rerank(question, candidates)]
    assert lexical == ["a1", "b1", "a2"]
    fused = rerank(question, candidates, semantic_weight=0.9)
    # File a's closest passage (a2) earns its file the first place, which a's lexically best fills.
    assert [s.hit["point_id"] for s in fused] == ["a1", "b1", "a2"]
    assert [s.hit["file_id"] for s in fused] == ["a", "b", "a"] and fused[0].score > fused[1].score > fused[2].score
    by_b = rerank(question, [{**c, "similarity": 0.9 if c["file_id"] == "b" else 0.1} for c in candidates], semantic_weight=0.9)  # type: ignore[typeddict-item]
    assert [s.hit["point_id"] for s in by_b] == ["b1", "a1", "a2"]


def test_without_similarities_the_semantic_order_is_the_lexical_one():
    candidates = [{k: v for k, v in c.items() if k != "similarity"} for c in length_candidates()]
    lexical = rerank(LENGTH_QUESTION, candidates)  # type: ignore[arg-type]
    assert semantic(lexical, 0.5) == lexical
    assert [s.hit["point_id"] for s in rerank(LENGTH_QUESTION, candidates, semantic_weight=0.5)] == [s.hit["point_id"] for s in lexical]  # type: ignore[arg-type]


def test_similarity_is_the_cosine_whatever_the_query_norm():
    hits = with_similarity([hit("a", "x"), hit("b", "y")], [3.0, 4.0], [[0.6, 0.8], [1.0, 0.0]])
    assert [round(h["similarity"], 6) for h in hits] == [1.0, 0.6]


def test_the_semantic_weight_defaults_by_dense_model():
    assert Settings(_env_file=None).resolved_semantic_weight() == 0.0
    assert Settings(_env_file=None, embeddings_local_model="multilingual-e5-small").resolved_semantic_weight() == 0.5
    assert Settings(_env_file=None, embeddings_provider="openai").resolved_semantic_weight() == 0.5
    assert Settings(_env_file=None, semantic_weight=0.3).resolved_semantic_weight() == 0.3
    with pytest.raises(ValueError):
        Settings(_env_file=None, semantic_weight=1.5)


# -- extractive answers ---------------------------------------------------------------------------


def test_an_elliptic_sentence_brings_the_one_before_it():
    passage = "Le ramasse-miettes détecte les cycles de références. Cela peut être désactivé avec gc.disable()."
    answer = extract_answer("Le ramasse-miettes peut-il être désactivé ?", [(1, "gc", "Ramasse-miettes", passage)])
    assert "Le ramasse-miettes détecte les cycles de références. [1]" in answer
    assert "gc.disable() [1]" in answer or "gc.disable(). [1]" in answer


def test_the_section_heading_counts_as_context_for_its_sentences():
    passages = [
        (1, "Doc", "Fuseaux horaires", "La base utilisée est celle de IANA, mise à jour souvent."),
        (2, "Doc", "Divers", "La base de données locale contient des tables."),
    ]
    answer = extract_answer("Quelle base pour les fuseaux horaires ?", passages, max_sentences=1)
    assert "IANA" in answer and answer.rstrip().endswith("[1]")


def test_a_section_whose_heading_asks_the_question_answers_it_in_its_own_words():
    passage = (
        "# Que se passe-t-il si je ferme la fenêtre pendant une réponse ?\n\n"
        "La déconnexion du client annule l'appel en cours. La génération s'arrête aussitôt.\n\n"
        "# Que se passe-t-il si le serveur tombe en panne ?\n\n"
        "Une réponse d'erreur nomme la phase en échec."
    )
    answer = extract_answer("Que se passe-t-il si je ferme mon navigateur au milieu d'une réponse ?", [(1, "FAQ", "", passage)], max_sentences=1)
    assert "La déconnexion du client annule l'appel en cours. [1]" in answer
    assert "phase en échec" not in answer


def test_a_section_s_first_sentence_wins_a_tie_with_a_later_one():
    passage = "# Effacer une session\n\nEnvoyez clear=true pour effacer la session. Plus tard, effacer la session libère sa mémoire."
    answer = extract_answer("Comment effacer une session ?", [(1, "FAQ", "", passage)], max_sentences=1)
    assert answer.splitlines()[2].startswith("- Envoyez clear=true")


def test_a_question_naming_what_no_candidate_mentions_is_not_supported():
    question = "Comment déployer une application Flask sur AWS Lambda ?"
    candidates = [hit("a", "Déployer une application demande de copier ses fichiers sur le serveur."), hit("b", "Une fonction lambda est anonyme.")]
    assert unknown_names(question, candidates) == ["Flask", "AWS"]
    assert supported(rerank(question, candidates), top_k=5, question=question) == []
    known = [hit("c", "Pour déployer une application Flask sur AWS Lambda, empaquetez-la.")]
    assert unknown_names(question, known) == [] and supported(rerank(question, known), top_k=5, question=question) == known


def test_a_passage_that_leaves_out_a_name_of_the_question_is_not_kept_even_if_another_names_it():
    question = "Quelle extension VS Code choisir pour formater mon code avec Black ?"
    formatting = hit("a", "Pour formater le code, choisissez une extension de mise en forme et formatez à l'enregistrement.")
    colours = hit("b", "Les couleurs black et white s'affichent dans le terminal VS Code.")
    ranked = rerank(question, [formatting, colours])
    assert unknown_names(question, [formatting, colours]) == []  # every name is somewhere among them
    assert formatting not in supported(ranked, top_k=5, question=question)
    named = hit("c", "# Éditeurs › VS Code\n\nL'extension Black Formatter formate votre code à l'enregistrement.")
    assert supported(rerank(question, [formatting, named]), top_k=5, question=question) == [named]


def test_an_offline_follow_up_is_searched_with_the_question_it_follows():
    history = [HumanMessage("Comment activer un environnement virtuel créé avec venv ?"), AIMessage("Avec activate.")]
    result = _heuristic("Et sous Windows, ça marche pareil ?", history)
    assert result.intent == "follow_up"
    assert "venv" in result.standalone_question and "Windows" in result.standalone_question


def test_the_best_sentence_brings_the_next_one_of_its_section():
    passage = (
        "# Listes\n\nLes insertions ou les retraits en début de liste sont lents pour une file. "
        "Pour implémenter une file, utilisez plutôt collections.deque.\n\n# Autre\n\nSans rapport avec la question posée ici."
    )
    answer = extract_answer("Retirer des éléments au début d'une liste est lent, que prendre ?", [(1, "Doc", "", passage)], max_sentences=1)
    assert "collections.deque. [1]" in answer and "Sans rapport" not in answer


def test_a_sentence_whose_neighbours_hold_the_rest_of_the_question_is_quoted():
    """The sentence naming the answer ("monotone") shares one word with the question; the next one
    of its section holds the others. It must outrank a sentence elsewhere that only restates them."""
    question = "Quelle horloge pour mesurer une durée si l'heure du système change ?"
    passages = [
        (1, "Doc", "", "# Compteurs\n\nUne horloge permet de mesurer une durée. Sa résolution dépend de la plateforme."),
        (2, "Doc", "", "# Horloges\n\nL'horloge monotone ne peut pas être réglée. Une durée mesurée ainsi reste juste quand l'heure du système change."),
    ]
    answer = extract_answer(question, passages, max_sentences=2)
    assert "L'horloge monotone ne peut pas être réglée. [2]" in answer
    assert "Une horloge permet" not in answer

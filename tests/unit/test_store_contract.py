"""The ``DocumentStore`` contract, run on both backends with the real MiniLM model.

``edge`` is the embedded default (qdrant-edge). ``server`` is the server-path code
(``QdrantDocumentStore``, qdrant-client): no Qdrant server binary is installable here (none on
PyPI or Debian), so qdrant-client's local mode stands in for the server, running the same client
calls, filters, IDF scope and RRF query the server receives.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from retrievers import fusion
from retrievers.edge import EdgeDocumentStore
from retrievers.generations import Selector
from retrievers.ingestion import file_id_for, ingest_bytes
from retrievers.qdrant import QdrantDocumentStore
from retrievers.schema import COMMITTING, STAGED
from tests.support.store_writer import NEW, OLD, open_store

BACKENDS = ["edge", "server"]
MODES = ["dense", "sparse", "hybrid"]
CORPUS = {
    "erreurs.md": "# Codes d'erreur\n\nLe code 429 signale un dépassement de quota. Le code 401 signale un jeton expiré.",
    "jetons.md": "# Jetons d'accès\n\nUn jeton d'accès expire après une heure. Le client en demande un nouveau.",
    "maintenance.md": "# Maintenance\n\nLa maintenance a lieu chaque dimanche. Les jetons restent valides.",
    "inventaire.md": "# Inventaire\n\nLe lot de cartes réseau commandé en mars porte la référence KZ7-PLOVRA.",
    "securite.md": "# Sécurité\n\nLes secrets sont stockés dans un coffre chiffré. Les mots de passe ne sont jamais journalisés.",
    "reseau.md": "# Réseau\n\nLe service écoute sur le port 7860. Les clients se connectent en HTTP.",
}
BETA = {
    "reseau.md": CORPUS["reseau.md"],
    "secret.md": "# Secret beta\n\nLe port secret du projet beta est 9999 pour les clients HTTP.",
}
QUERIES = ["port des clients HTTP", "jeton expiré", "Quelle référence porte KZ7-PLOVRA ?", "secrets chiffrés", "maintenance"]


def make_store(backend: str, settings, embeddings, **kwargs):
    cls = EdgeDocumentStore if backend == "edge" else QdrantDocumentStore
    return cls(settings, embeddings, **kwargs)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
async def loaded(backend, settings_factory, embeddings):
    store = make_store(backend, settings_factory(backend), embeddings)
    ids = {}
    for project, docs in (("alpha", CORPUS), ("beta", BETA)):
        for name, text in docs.items():
            ids[(project, name)] = (await ingest_bytes(store, project_id=project, filename=name, data=text.encode())).file_id
    yield store, ids
    store.close()


def staged_left(store) -> int:
    return store._engine_count(Selector(STAGED)) + store._engine_count(Selector(COMMITTING))


# -- filters ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_projects_and_sources_filter_every_mode(loaded, mode):
    store, ids = loaded
    beta = {ids[("beta", "reseau.md")], ids[("beta", "secret.md")]}
    hits = await store.search("port secret du projet beta HTTP", project_id="alpha", mode=mode, top_k=20)
    assert hits and {h["project_id"] for h in hits} == {"alpha"} and not beta & {h["file_id"] for h in hits}
    wanted = [ids[("alpha", "jetons.md")], ids[("alpha", "securite.md")]]
    hits = await store.search("port jeton secrets", project_id="alpha", sources=wanted, mode=mode, top_k=20)
    assert {h["file_id"] for h in hits} == set(wanted)
    assert await store.search("port secret", project_id="alpha", sources=sorted(beta), mode=mode) == []
    assert await store.search("port", project_id="gamma", mode=mode) == []


# -- writes -----------------------------------------------------------------------------------


async def test_delete_list_and_get(loaded):
    store, ids = loaded
    target = ids[("alpha", "reseau.md")]
    assert len(await store.list_files(project_id="alpha")) == len(CORPUS)
    assert (await store.get_file(project_id="alpha", file_id=target)).chunks == 1
    assert await store.get_file(project_id="beta", file_id=target) is None
    assert await store.delete_file(project_id="alpha", file_id=target) == 1
    assert await store.get_file(project_id="alpha", file_id=target) is None
    assert target not in {h["file_id"] for h in await store.search("port 7860", project_id="alpha", top_k=20)}
    assert await store.get_file(project_id="beta", file_id=ids[("beta", "reseau.md")]) is not None
    assert await store.delete_file(project_id="alpha", file_id=target) == 0
    await store.ping()


async def _version_served(store) -> tuple[str, int]:
    info = await store.get_file(project_id="p", file_id=file_id_for("p", "s.md"))
    hits = await store.search("stockage fragile durable", project_id="p", mode="sparse", top_k=100)
    words = {"fragile" if "fragile" in h["text"] else "durable" for h in hits}
    assert info is not None and len(hits) == info.chunks and len(words) == 1, (info, words)
    return words.pop(), info.chunks


async def test_a_write_failing_midway_keeps_the_old_version_whole(backend, settings_factory, embeddings, monkeypatch):
    store = make_store(backend, settings_factory("fail"), embeddings, batch_size=2)
    try:
        first = await ingest_bytes(store, project_id="p", filename="s.md", data=OLD.encode())
        real, calls = store._engine_upsert, []

        def failing(points):
            calls.append(len(points))
            if len(calls) == 3:
                raise OSError("disk full")
            real(points)

        monkeypatch.setattr(store, "_engine_upsert", failing)
        with pytest.raises(OSError, match="disk full"):
            await ingest_bytes(store, project_id="p", filename="s.md", data=NEW.encode())
        assert len(calls) == 3
        assert await _version_served(store) == ("durable", first.chunks)
        assert staged_left(store) == 0  # the two staged batches were removed
        monkeypatch.undo()
        second = await ingest_bytes(store, project_id="p", filename="s.md", data=NEW.encode())
        assert await _version_served(store) == ("fragile", second.chunks)
    finally:
        store.close()


async def test_point_ids_are_deterministic_and_equal_between_backends(settings_factory, embeddings):
    found = []
    for backend in BACKENDS:
        store = make_store(backend, settings_factory(f"ids-{backend}"), embeddings)
        try:
            await ingest_bytes(store, project_id="p", filename="s.md", data=OLD.encode())
            found.append(sorted(h["point_id"] for h in await store.search("stockage", project_id="p", mode="sparse", top_k=100)))
        finally:
            store.close()
    assert found[0] == found[1] and len(found[0]) > 4


# -- persistence and crashes ------------------------------------------------------------------


async def test_reopening_after_a_clean_close(backend, settings_factory, embeddings):
    settings = settings_factory("reopen")
    store = make_store(backend, settings, embeddings)
    result = await ingest_bytes(store, project_id="p", filename="n.md", data=b"# Note\n\nLe serveur de secours s'appelle Orion.")
    store.close()
    store = make_store(backend, settings, embeddings)
    try:
        assert [(f.file_id, f.chunks) for f in await store.list_files(project_id="p")] == [(result.file_id, 1)]
        assert "Orion" in (await store.search("serveur de secours", project_id="p"))[0]["text"]
    finally:
        store.close()


def _writer(backend: str, data_dir, when: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.store_writer", backend, str(data_dir), when],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


@pytest.mark.parametrize(("when", "expected"), [("staging", "durable"), ("commit", "fragile")])
async def test_a_writer_killed_mid_version_leaves_one_whole_version(backend, tmp_path, when, expected):
    """Killed while staging v2: v1 whole after restart. Killed in the commit, after v1 was
    deleted and before v2 was published: the start-up pass finishes it, v2 whole."""
    process = _writer(backend, tmp_path, when)
    try:
        assert process.stdout.readline().strip() == "v1"
        if when == "staging":
            assert process.stdout.readline().strip() == "staging"
            os.kill(process.pid, signal.SIGKILL)
        assert await asyncio.to_thread(process.wait, 60) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
    store = open_store(backend, tmp_path, DeterministicFakeEmbedding(size=384))
    try:
        await store.search("x", project_id="p", mode="sparse")  # the server path recovers on first use
        word, chunks = await _version_served(store)
        assert word == expected and chunks > 4
        assert staged_left(store) == 0
    finally:
        store.close()


# -- ranking ----------------------------------------------------------------------------------


async def test_both_backends_rank_alike_on_the_same_corpus(settings_factory, embeddings):
    results = {}
    for backend in BACKENDS:
        store = make_store(backend, settings_factory(f"rank-{backend}"), embeddings)
        try:
            for name, text in CORPUS.items():
                await ingest_bytes(store, project_id="alpha", filename=name, data=text.encode())
            results[backend] = [
                await store.search(query, project_id="alpha", mode=mode, top_k=5) for mode in MODES for query in QUERIES
            ]
        finally:
            store.close()
    for edge, server in zip(results["edge"], results["server"], strict=True):
        assert [h["point_id"] for h in edge] == [h["point_id"] for h in server]
        assert [h["score"] for h in edge] == pytest.approx([h["score"] for h in server], rel=1e-4)
    assert any(len(r) >= 3 for r in results["edge"])


@pytest.mark.parametrize("mode", MODES)
async def test_every_mode_can_return_each_hit_s_dense_similarity(loaded, mode):
    """The offline reranker's semantic signal: a dense hit's similarity is its score; any other
    mode gives the same cosine on request (the sparse side of a fused search), and none unasked."""
    store, _ = loaded
    query = "jeton expiré"
    dense = {h["point_id"]: h["score"] for h in await store.search(query, project_id="alpha", mode="dense", top_k=20)}
    hits = await store.search(query, project_id="alpha", mode=mode, top_k=20, similarity=True)
    assert hits and all(h["similarity"] == pytest.approx(dense[h["point_id"]], abs=1e-4) for h in hits)
    if mode != "dense":
        assert all("similarity" not in h for h in await store.search(query, project_id="alpha", mode=mode, top_k=20))
    fused = await fusion.hybrid_search(store, query, project_id="alpha", top_k=20, similarity=True)
    assert fused and all(h["similarity"] == pytest.approx(dense[h["point_id"]], abs=1e-4) for h in fused)


async def test_another_projects_documents_never_change_a_projects_sparse_scores(loaded):
    store, ids = loaded

    async def scores(project: str) -> list[float]:
        return [h["score"] for h in await store.search("référence KZ7-PLOVRA cartes", project_id=project, mode="sparse")]

    before = await scores("alpha")
    assert before
    for i in range(5):
        text = f"# Achat {i}\n\nLa référence KZ7-PLOVRA désigne des cartes réseau, lot {i}."
        await ingest_bytes(store, project_id="beta", filename=f"achat{i}.md", data=text.encode())
    assert await scores("alpha") == before
    # The same documents in alpha itself do change its statistics: the comparison above can fail.
    await ingest_bytes(store, project_id="alpha", filename="achat.md", data=b"# Achat\n\nLa reference KZ7-PLOVRA, encore.")
    assert (await scores("alpha"))[: len(before)] != before


async def test_graph_builds_in_the_background_keep_every_point_searchable(settings_factory):
    """The embedded store builds its HNSW graph in a thread while writes and searches go on."""
    store = EdgeDocumentStore(settings_factory("optimize"), DeterministicFakeEmbedding(size=384), optimize_after=60)
    try:
        for i in range(12):
            text = "\n\n".join(f"Section {j} du fichier {i} : sauvegarde numéro {i * 100 + j}." * 8 for j in range(40))
            await ingest_bytes(store, project_id="p", filename=f"f{i}.md", data=f"# F{i}\n\n{text}".encode())
            assert await store.search("sauvegarde", project_id="p", mode="hybrid", top_k=5)
        assert store._optimizer is not None  # at least one build was started
        store._optimizer.join()
        files = await store.list_files(project_id="p")
        total = sum(f.chunks for f in files)
        assert len(files) == 12 and total > 120
        assert store._engine_count(Selector("p")) == total and staged_left(store) == 0
        assert len(await store.search("sauvegarde fichier", project_id="p", mode="sparse", top_k=total)) == total
    finally:
        store.close()

"""The Qdrant store on real embedded Qdrant and the real local model: project isolation in every
mode, ``sources``, hybrid search, schema, persistence, replacement, failure safety, locking."""

from __future__ import annotations

import asyncio
import socket
import threading
from datetime import datetime, timedelta

import pytest
from langchain_core.embeddings import Embeddings

from retrievers import build_store
from retrievers.base import Hit, StoreUnavailableError
from retrievers.ingestion import file_id_for, ingest_bytes
from retrievers.qdrant import QdrantDocumentStore, point_id

MODES = ["dense", "sparse", "hybrid"]
CORPUS = {
    "erreurs.md": "# Codes d'erreur\n\nLe code 429 signale un dépassement de quota. "
    "Le code 401 signale un jeton invalide ou expiré.",
    "jetons.md": "# Jetons d'accès\n\nUn jeton d'accès expire après une heure. "
    "Le client demande un nouveau jeton avec son identifiant.",
    "maintenance.md": "# Maintenance\n\nLa maintenance du service a lieu chaque dimanche. "
    "Les jetons restent valides pendant la maintenance.",
    "inventaire.md": "# Inventaire du matériel\n\nLes serveurs de la salle B ont été renouvelés au printemps. Chaque baie "
    "reçoit deux alimentations redondantes et un onduleur. Le lot de cartes réseau commandé en mars porte la "
    "référence KZ7-PLOVRA chez le fournisseur. Les disques usagés sont détruits par un prestataire agréé.",
    "codes.md": "# Codes de projet\n\nChaque projet reçoit un code court choisi par son responsable, "
    "par exemple ALPHA ou BETA.",
    "securite.md": "# Sécurité\n\nLes secrets sont stockés dans un coffre chiffré. "
    "Les mots de passe ne sont jamais journalisés.",
    "deploiement.md": "# Déploiement\n\nLe service se déploie dans un conteneur. "
    "La configuration passe par des variables d'environnement.",
    "reseau.md": "# Réseau\n\nLe service écoute sur le port 7860. Les clients se connectent en HTTP.",
}
# Project beta holds an identical copy of alpha's network page plus its own secret: only the
# project filter, never relevance, can keep them out of alpha's results.
BETA = {
    "reseau.md": CORPUS["reseau.md"],
    "secret.md": "# Secret beta\n\nLe port secret du projet beta est 9999 pour les clients HTTP.",
}


@pytest.fixture(scope="module")
async def corpus(store_factory):
    store = store_factory("corpus")
    ids: dict[tuple[str, str], str] = {}
    for project, docs in (("alpha", CORPUS), ("beta", BETA)):
        for name, text in docs.items():
            result = await ingest_bytes(store, project_id=project, filename=name, data=text.encode())
            ids[(project, name)] = result.file_id
    return store, ids


def names(hits: list[Hit], ids: dict[tuple[str, str], str]) -> list[str]:
    by_id = {file_id: name for (_, name), file_id in ids.items()}
    return [by_id[h["file_id"]] for h in hits]


# -- filters ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_another_projects_chunks_are_never_returned(corpus, mode):
    store, ids = corpus
    beta_ids = {ids[("beta", "reseau.md")], ids[("beta", "secret.md")]}
    hits = await store.search("port secret des clients HTTP du projet beta", project_id="alpha", mode=mode, top_k=20)
    assert hits and {h["project_id"] for h in hits} == {"alpha"}
    assert not beta_ids & {h["file_id"] for h in hits}
    beta = await store.search("port des clients HTTP", project_id="beta", mode=mode, top_k=20)
    assert {h["file_id"] for h in beta} <= beta_ids and beta
    assert await store.search("port des clients HTTP", project_id="gamma", mode=mode) == []


@pytest.mark.parametrize("mode", MODES)
async def test_sources_restrict_the_search_to_those_files(corpus, mode):
    store, ids = corpus
    wanted = [ids[("alpha", "jetons.md")], ids[("alpha", "securite.md")]]
    hits = await store.search("port HTTP jeton secrets code", project_id="alpha", sources=wanted, mode=mode, top_k=20)
    assert {h["file_id"] for h in hits} == set(wanted)


@pytest.mark.parametrize("mode", MODES)
async def test_empty_sources_mean_the_whole_project(corpus, mode):
    store, ids = corpus
    query = "port HTTP jeton secrets code maintenance"
    whole = await store.search(query, project_id="alpha", sources=[], mode=mode, top_k=20)
    unrestricted = await store.search(query, project_id="alpha", sources=None, mode=mode, top_k=20)
    assert [h["point_id"] for h in whole] == [h["point_id"] for h in unrestricted]
    assert len({h["file_id"] for h in whole}) >= 4


@pytest.mark.parametrize("mode", MODES)
async def test_sources_cannot_reach_into_another_project(corpus, mode):
    store, ids = corpus
    hits = await store.search("port secret", project_id="alpha", sources=[ids[("beta", "secret.md")]], mode=mode)
    assert hits == []


# -- ranking ----------------------------------------------------------------------------------


async def test_hybrid_finds_a_rare_keyword_that_dense_alone_ranks_below_the_top_three(corpus):
    store, ids = corpus
    query = "jeton KZ7-PLOVRA"  # "jeton" pulls dense search towards the token pages
    dense = names(await store.search(query, project_id="alpha", mode="dense", top_k=3), ids)
    sparse = names(await store.search(query, project_id="alpha", mode="sparse", top_k=3), ids)
    hybrid = names(await store.search(query, project_id="alpha", mode="hybrid", top_k=3), ids)
    assert "inventaire.md" not in dense
    assert sparse[0] == "inventaire.md"
    assert "inventaire.md" in hybrid


async def test_hybrid_ranks_a_keyword_only_its_chunk_contains_first(corpus):
    store, ids = corpus
    hits = await store.search("Quelle référence porte KZ7-PLOVRA ?", project_id="alpha", mode="hybrid", top_k=5)
    assert names(hits, ids)[0] == "inventaire.md"
    assert hits[0]["score"] > hits[1]["score"]


async def test_hits_carry_the_chunk_and_its_document(corpus):
    store, ids = corpus
    [hit] = await store.search("port 7860", project_id="alpha", mode="sparse", top_k=1)
    # Every key but the optional dense similarity, which a sparse search gives only on request.
    assert set(hit) == set(Hit.__required_keys__) == set(Hit.__annotations__) - {"similarity"}
    assert hit["file_id"] == ids[("alpha", "reseau.md")] == file_id_for("alpha", "reseau.md")
    assert hit["title"] == "Réseau" and "7860" in hit["text"] and hit["chunk_index"] == 0
    assert hit["url"] is None and hit["score"] > 0


async def test_queries_without_content_words_and_bad_arguments(corpus):
    store, _ = corpus
    assert await store.search("le la les the", project_id="alpha", mode="sparse") == []
    assert await store.search("port", project_id="alpha", top_k=0) == []
    with pytest.raises(ValueError, match="Unknown search mode"):
        await store.search("port", project_id="alpha", mode="fuzzy")  # type: ignore[arg-type]


# -- schema -----------------------------------------------------------------------------------


async def test_collection_schema_payload_and_point_ids(store):
    from qdrant_client import models

    result = await ingest_bytes(
        store, project_id="p", filename="a.md", data=b"# A\n\nContenu.", url="https://exemple.fr/a"
    )
    assert store.collection == "chunks_all_minilm_l6_v2"
    params = store._client.get_collection(store.collection).config.params
    assert params.vectors["dense"].size == 384 and params.vectors["dense"].distance == models.Distance.COSINE
    assert params.sparse_vectors["sparse"].modifier == models.Modifier.IDF
    [point], _ = store._client.scroll(store.collection, with_payload=True)
    payload = point.payload
    assert set(payload) >= {"project_id", "file_id", "title", "url", "chunk_index", "text", "created_at", "ingest_id"}
    assert (payload["project_id"], payload["file_id"], payload["url"]) == ("p", result.file_id, "https://exemple.fr/a")
    created = datetime.fromisoformat(payload["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert str(point.id) == point_id("p", result.file_id, payload["ingest_id"], 0)


class SizedEmbeddings(Embeddings):
    """Constant vectors of a chosen size: enough to exercise the collection checks."""

    def __init__(self, size: int):
        self.size = size

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[1.0] * self.size for _ in texts]

    def embed_query(self, text: str) -> list[float]:
        return [1.0] * self.size


async def test_a_collection_built_with_another_vector_size_is_refused(settings_factory, embeddings):
    settings = settings_factory("sizes")
    first = QdrantDocumentStore(settings, embeddings)
    await ingest_bytes(first, project_id="p", filename="a.md", data=b"# A\n\nContenu.")
    first.close()
    other = QdrantDocumentStore(settings, SizedEmbeddings(8))
    try:
        with pytest.raises(ValueError, match="384-d vectors but the embeddings give 8-d"):
            await other.search("contenu", project_id="p")
    finally:
        other.close()


# -- files ------------------------------------------------------------------------------------


async def test_list_get_and_delete_files(store):
    a = await ingest_bytes(store, project_id="p", filename="a.md", data=("# A\n\n" + "Phrase. " * 300).encode())
    b = await ingest_bytes(store, project_id="p", filename="b.txt", data=b"Une seule phrase.", url="https://b")
    await ingest_bytes(store, project_id="q", filename="c.md", data=b"# C\n\nAutre projet.")
    files = {f.file_id: f for f in await store.list_files(project_id="p")}
    assert set(files) == {a.file_id, b.file_id}
    assert files[a.file_id].chunks == a.chunks > 1 and files[a.file_id].title == "A"
    assert (files[b.file_id].chunks, files[b.file_id].url, files[b.file_id].project_id) == (1, "https://b", "p")
    assert datetime.fromisoformat(files[b.file_id].created_at).utcoffset() == timedelta(0)
    assert await store.get_file(project_id="p", file_id=a.file_id) == files[a.file_id]
    assert await store.get_file(project_id="q", file_id=a.file_id) is None

    assert await store.delete_file(project_id="p", file_id=a.file_id) == a.chunks
    assert await store.get_file(project_id="p", file_id=a.file_id) is None
    assert await store.search("phrase", project_id="p", mode="sparse", top_k=50) != []
    assert all(h["file_id"] == b.file_id for h in await store.search("phrase", project_id="p", top_k=50))
    assert await store.delete_file(project_id="p", file_id=a.file_id) == 0


async def test_reingesting_replaces_the_file_without_duplicates(store):
    long = "# Doc\n\n" + "\n\n".join(f"Paragraphe {i} : la couleur du projet est le vert. " * 6 for i in range(12))
    first = await ingest_bytes(store, project_id="p", filename="doc.md", data=long.encode())
    ids_before = {h["point_id"] for h in await store.search("couleur", project_id="p", mode="sparse", top_k=100)}
    again = await ingest_bytes(store, project_id="p", filename="doc.md", data=long.encode())
    assert again.file_id == first.file_id and again.chunks == first.chunks > 3
    ids_after = {h["point_id"] for h in await store.search("couleur", project_id="p", mode="sparse", top_k=100)}
    assert ids_after == ids_before  # unchanged content: left as it is

    red = b"# Doc\n\nLa couleur du projet est le rouge."
    changed = await ingest_bytes(store, project_id="p", filename="doc.md", data=red)
    [info] = await store.list_files(project_id="p")
    assert info.chunks == changed.chunks == 1
    hits = await store.search("couleur du projet", project_id="p", top_k=100)
    assert [(h["text"], h["section"]) for h in hits] == [("La couleur du projet est le rouge.", "Doc")]  # the heading is the section


async def test_concurrent_writes_of_one_file_leave_exactly_one_version(store):
    versions = [
        "# V\n\n" + "\n\n".join(f"Version {v}, paragraphe {i}. " * 6 for i in range(6)) for v in ("un", "deux")
    ]
    results = await asyncio.gather(
        *(ingest_bytes(store, project_id="p", filename="v.md", data=text.encode()) for text in versions)
    )
    [info] = await store.list_files(project_id="p")
    hits = await store.search("version paragraphe", project_id="p", mode="sparse", top_k=100)
    assert len(hits) == info.chunks
    assert len({"deux" in h["text"] for h in hits}) == 1  # all chunks from one version
    assert info.chunks in {r.chunks for r in results}


# -- failure safety ---------------------------------------------------------------------------

OLD = "# Stockage\n\n" + "\n\n".join(f"Paragraphe {i} sur le stockage durable des sauvegardes. " * 5 for i in range(16))
NEW = OLD.replace("durable", "fragile")


async def _assert_old_version_intact(store: QdrantDocumentStore, chunks: int) -> None:
    info = await store.get_file(project_id="p", file_id=file_id_for("p", "s.md"))
    assert info is not None and info.chunks == chunks  # no partial new points left behind
    hits = await store.search("stockage fragile durable", project_id="p", mode="sparse", top_k=100)
    assert len(hits) == chunks and all("durable" in h["text"] and "fragile" not in h["text"] for h in hits)


@pytest.fixture
async def small_batches(settings_factory, embeddings):
    """A store writing two chunks per batch, holding the old version of ``s.md``."""
    store = QdrantDocumentStore(settings_factory("atomic"), embeddings, batch_size=2)
    result = await ingest_bytes(store, project_id="p", filename="s.md", data=OLD.encode())
    assert result.chunks > 4
    yield store, result.chunks
    store.close()


async def test_a_write_failing_midway_keeps_the_previous_version(small_batches, monkeypatch):
    store, chunks = small_batches
    real_upsert = store._client.upsert
    calls = []

    def failing_upsert(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return real_upsert(*args, **kwargs)

    monkeypatch.setattr(store._client, "upsert", failing_upsert)
    with pytest.raises(OSError, match="disk full"):
        await ingest_bytes(store, project_id="p", filename="s.md", data=NEW.encode())
    assert len(calls) == 3  # two batches of the new version were written, then rolled back
    await _assert_old_version_intact(store, chunks)


class FlakyEmbeddings(Embeddings):
    """Delegates to the real model, but the n-th batch fails or blocks forever."""

    def __init__(self, inner: Embeddings, fail_on: int, block: bool = False):
        self.inner, self.fail_on, self.block = inner, fail_on, block
        self.calls = 0
        self.reached = asyncio.Event()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        if self.calls == self.fail_on:
            self.reached.set()
            if self.block:
                await asyncio.Event().wait()
            raise RuntimeError("embedding provider down")
        return await self.inner.aembed_documents(texts)


async def test_an_embedding_failure_midway_keeps_the_previous_version(small_batches, embeddings):
    store, chunks = small_batches
    store._embeddings = FlakyEmbeddings(embeddings, fail_on=3)
    with pytest.raises(RuntimeError, match="provider down"):
        await ingest_bytes(store, project_id="p", filename="s.md", data=NEW.encode())
    await _assert_old_version_intact(store, chunks)


async def test_a_cancelled_write_keeps_the_previous_version(small_batches, embeddings):
    store, chunks = small_batches
    flaky = store._embeddings = FlakyEmbeddings(embeddings, fail_on=3, block=True)
    task = asyncio.create_task(ingest_bytes(store, project_id="p", filename="s.md", data=NEW.encode()))
    await asyncio.wait_for(flaky.reached.wait(), timeout=30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _assert_old_version_intact(store, chunks)


# -- persistence and availability -------------------------------------------------------------


async def test_data_survives_closing_and_reopening_the_path(settings_factory):
    settings = settings_factory("persist")
    store = build_store(settings)
    note = b"# Note\n\nLe serveur de secours s'appelle Orion."
    result = await ingest_bytes(store, project_id="p", filename="n.md", data=note)
    store.close()
    reopened = build_store(settings)
    try:
        hits = await reopened.search("serveur de secours", project_id="p")
        assert hits and "Orion" in hits[0]["text"]
        assert [(f.file_id, f.title, f.chunks) for f in await reopened.list_files(project_id="p")] == [
            (result.file_id, "Note", 1)
        ]
    finally:
        reopened.close()


async def test_a_path_open_in_another_client_raises_a_clear_error(settings_factory):
    settings = settings_factory("locked")
    store = build_store(settings)
    try:
        with pytest.raises(StoreUnavailableError, match="open in another process.*ROUTEUR_QDRANT_URL"):
            build_store(settings)
    finally:
        store.close()
    build_store(settings).close()  # released on close


async def test_an_in_memory_store_works_for_tests(settings_factory, embeddings):
    from pathlib import Path

    store = QdrantDocumentStore(settings_factory("mem", qdrant_path=Path(":memory:")), embeddings)
    try:
        await ingest_bytes(store, project_id="p", filename="m.md", data=b"# M\n\nEn memoire seulement.")
        assert [h["title"] for h in await store.search("memoire", project_id="p")] == ["M"]
    finally:
        store.close()


async def test_ping_succeeds_on_a_working_store(store):
    await store.ping()


def join_version_check() -> None:
    """The server client checks the server's version in a thread and warns from it: let it end
    inside the test, where its warning is expected."""
    for thread in threading.enumerate():
        if "_check_compatibility" in thread.name:
            thread.join(timeout=10)


@pytest.mark.filterwarnings("ignore:Failed to obtain server version")
async def test_an_unreachable_server_raises_store_unavailable(settings_factory, embeddings):
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = QdrantDocumentStore(settings_factory("server", qdrant_url=f"http://127.0.0.1:{port}"), embeddings)
    join_version_check()
    try:
        assert not store.local and store.location == f"http://127.0.0.1:{port}"
        with pytest.raises(StoreUnavailableError, match="unavailable"):
            await store.ping()
        with pytest.raises(StoreUnavailableError):
            await store.search("port", project_id="p")
    finally:
        store.close()


@pytest.fixture
def fake_qdrant_server():
    """A loopback HTTP server answering the few REST calls that create a collection, recording them."""
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    requests: list[tuple[str, str, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, result: object) -> None:
            body = json.dumps({"result": result, "status": "ok", "time": 0.0}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            requests.append(("GET", self.path, {}))
            if self.path == "/":  # the client's version check
                body = b'{"title": "qdrant", "version": "1.20.0"}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self._reply({"exists": False})

        def do_PUT(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", 0))
            requests.append(("PUT", self.path.split("?")[0], json.loads(self.rfile.read(length) or b"{}")))
            self._reply(True if self.path.split("?")[0].count("/") == 2 else {"operation_id": 1, "status": "completed"})

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()
    server.server_close()


async def test_on_a_server_the_collection_gets_keyword_indexes_with_project_id_as_tenant(
    fake_qdrant_server, settings_factory, embeddings
):
    url, requests = fake_qdrant_server
    store = QdrantDocumentStore(settings_factory("remote", qdrant_url=url, collection="chunks"), embeddings)
    join_version_check()
    try:
        await store._ensure_collection()
    finally:
        store.close()
    puts = [(path, body) for method, path, body in requests if method == "PUT"]
    [created] = [body for path, body in puts if path == "/collections/chunks"]
    assert created["vectors"]["dense"] == {"size": 384, "distance": "Cosine"}
    assert created["sparse_vectors"]["sparse"]["modifier"] == "idf"
    indexes = {body["field_name"]: body["field_schema"] for path, body in puts if path == "/collections/chunks/index"}
    assert set(indexes) >= {"project_id", "file_id"}
    assert all(schema["type"] == "keyword" for schema in indexes.values())
    assert indexes["project_id"]["is_tenant"] is True and not indexes["file_id"].get("is_tenant")

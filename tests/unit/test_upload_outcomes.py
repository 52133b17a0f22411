"""What an upload under a name says it did: created, replaced (with the previous chunk count),
unchanged (same bytes: nothing parsed or embedded again), and each ``on_conflict`` choice; the
source's name, size, SHA-256 and version kept with each version, per project."""

from __future__ import annotations

import hashlib

import pytest

from retrievers.edge import EdgeDocumentStore
from retrievers.ingestion import NameTakenError, chunking_of, file_id_for, ingest_bytes, ingest_paths, renamed
from tests.support.fakes import CountingEmbeddings

V1 = "# Guide\n\n" + "\n\n".join(f"Paragraphe {i} : le serveur écoute sur le port 7860. " * 6 for i in range(6))
V2 = V1.replace("7860", "8080")


@pytest.fixture
def store(settings_factory):
    store = EdgeDocumentStore(settings_factory("outcomes"), CountingEmbeddings(size=384), batch_size=4)
    yield store
    store.close()


async def test_created_then_unchanged_without_embedding_then_replaced(store):
    embedder = store._embeddings
    created = await ingest_bytes(store, project_id="a", filename="guide.md", data=V1.encode())
    assert created.outcome == "created" and created.previous_chunks is None and created.chunks > 1
    assert created.source.sha256 == hashlib.sha256(V1.encode()).hexdigest()
    assert (created.source.size, created.source.version, created.source.filename) == (len(V1.encode()), 1, "guide.md")
    embedded = embedder.documents_embedded
    assert embedded == created.chunks

    again = await ingest_bytes(store, project_id="a", filename="guide.md", data=V1.encode())
    assert (again.outcome, again.file_id, again.chunks, again.source.version) == ("unchanged", created.file_id, created.chunks, 1)
    assert embedder.documents_embedded == embedded, "an unchanged file was embedded again"

    replaced = await ingest_bytes(store, project_id="a", filename="guide.md", data=b"# Guide\n\nLe port est 8080.")
    assert (replaced.outcome, replaced.previous_chunks, replaced.chunks) == ("replaced", created.chunks, 1)
    info = await store.get_file(project_id="a", file_id=created.file_id)
    assert info.chunks == 1 and info.source.version == 2 and info.source.sha256 == hashlib.sha256(b"# Guide\n\nLe port est 8080.").hexdigest()


async def test_the_same_bytes_cut_another_way_are_cut_again(store, settings_factory):
    """After a change of chunk size (or of the chunker), ingesting the same file again is not a
    no-op: the stored chunks are the old cut until it is replaced."""
    default = settings_factory("cut")
    created = await ingest_bytes(store, project_id="a", filename="cut.md", data=V1.encode(), settings=default)
    assert created.source.chunking == chunking_of(default)
    smaller = default.model_copy(update={"chunk_size": 120, "chunk_overlap": 10})
    again = await ingest_bytes(store, project_id="a", filename="cut.md", data=V1.encode(), settings=smaller)
    assert again.outcome == "replaced" and again.chunks > created.chunks and again.source.version == 2
    info = await store.get_file(project_id="a", file_id=created.file_id)
    assert (info.chunks, info.source.chunking) == (again.chunks, chunking_of(smaller))
    same = await ingest_bytes(store, project_id="a", filename="cut.md", data=V1.encode(), settings=smaller)
    assert same.outcome == "unchanged"


async def test_a_new_title_or_url_on_the_same_bytes_is_a_replacement(store):
    await ingest_bytes(store, project_id="a", filename="t.md", data=V1.encode())
    titled = await ingest_bytes(store, project_id="a", filename="t.md", data=V1.encode(), title="Nouveau titre")
    assert titled.outcome == "replaced" and titled.title == "Nouveau titre"
    same = await ingest_bytes(store, project_id="a", filename="t.md", data=V1.encode())
    assert same.outcome == "unchanged" and same.title == "Nouveau titre"


async def test_reject_refuses_other_content_and_accepts_the_same(store):
    first = await ingest_bytes(store, project_id="a", filename="r.md", data=V1.encode(), on_conflict="reject")
    assert first.outcome == "created"
    assert (await ingest_bytes(store, project_id="a", filename="r.md", data=V1.encode(), on_conflict="reject")).outcome == "unchanged"
    with pytest.raises(NameTakenError, match="already exists"):
        await ingest_bytes(store, project_id="a", filename="r.md", data=V2.encode(), on_conflict="reject")
    kept = await store.get_file(project_id="a", file_id=first.file_id)
    assert kept.source.sha256 == first.source.sha256 and kept.chunks == first.chunks


async def test_rename_keeps_both_under_the_next_free_name(store):
    first = await ingest_bytes(store, project_id="a", filename="docs/n.md", data=V1.encode())
    second = await ingest_bytes(store, project_id="a", filename="docs/n.md", data=V2.encode(), on_conflict="rename")
    third = await ingest_bytes(store, project_id="a", filename="docs/n.md", data=b"# Trois\n\nTroisieme.", on_conflict="rename")
    assert renamed("docs/n.md", 2) == "docs/n (2).md"
    assert (second.outcome, second.filename, second.file_id) == ("created", "docs/n (2).md", file_id_for("a", "docs/n (2).md"))
    assert third.filename == "docs/n (3).md" and len({first.file_id, second.file_id, third.file_id}) == 3
    assert (await store.get_file(project_id="a", file_id=first.file_id)).source.sha256 == first.source.sha256
    # The same bytes as a stored name are that file, not a new copy.
    same = await ingest_bytes(store, project_id="a", filename="docs/n.md", data=V1.encode(), on_conflict="rename")
    assert (same.outcome, same.file_id) == ("unchanged", first.file_id)


async def test_names_are_per_project(store):
    await ingest_bytes(store, project_id="a", filename="p.md", data=V1.encode())
    other = await ingest_bytes(store, project_id="b", filename="p.md", data=V2.encode(), on_conflict="reject")
    assert other.outcome == "created" and other.source.version == 1 and other.file_id == file_id_for("b", "p.md")
    assert (await store.get_file(project_id="a", file_id=file_id_for("a", "p.md"))).source.sha256 == hashlib.sha256(V1.encode()).hexdigest()


async def test_the_cli_path_reports_outcomes_too(store, tmp_path):
    (tmp_path / "c.md").write_text(V1)
    first = await ingest_paths(store, [tmp_path], project_id="cli", progress=False)
    embedded = store._embeddings.documents_embedded
    again = await ingest_paths(store, [tmp_path], project_id="cli", progress=False)
    assert first.results[0].outcome == "created" and again.results[0].outcome == "unchanged"
    assert store._embeddings.documents_embedded == embedded
    (tmp_path / "c.md").write_text(V2)
    third = await ingest_paths(store, [tmp_path], project_id="cli", progress=False)
    assert third.results[0].outcome == "replaced" and third.results[0].source.version == 2

"""Retrieval: sparse encoding, the Qdrant store (filters, modes, persistence, replacement,
failure safety, locking), loaders for every format, and ingestion."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from retrievers import build_store, sparse
from retrievers.base import StoreUnavailableError
from retrievers.ingestion import chunk_text, file_id_for, ingest_bytes, ingest_paths
from retrievers.loaders import EmptyDocumentError, UnsupportedFileTypeError, load_document

# -- sparse -----------------------------------------------------------------------------------


def test_term_ids_are_crc32_and_stable_across_processes():
    assert sparse.term_id("port") == zlib.crc32(b"port")
    code = "from retrievers.sparse import encode_query; print(encode_query('Réseaux et ports du serveur').indices)"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, text=True, check=True
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1 and outputs.pop().strip() == str(sparse.encode_query("Réseaux et ports du serveur").indices)


def test_stopwords_dropped_accents_folded_both_stems_indexed():
    assert sparse.tokens("Le Réseau et THE network") == ["reseau", "network"]
    stems = sparse.stems("documents")
    assert len(stems) == 2 and "document" in stems  # English stem beside the French one
    assert sparse.terms("requêtes") == sparse.terms("requetes")


def test_document_weights_saturate_and_query_weights_are_flat():
    once = sparse.encode_document("quota")
    many = sparse.encode_document("quota " * 20)
    assert once.indices == many.indices
    assert once.values[0] < many.values[0] < (sparse.K1 + 1)
    assert set(sparse.encode_query("quota quota").values) == {1.0}


# -- store ------------------------------------------------------------------------------------

ALPHA = {
    "reseau.md": "# Réseau\n\nLe service écoute sur le port 7860. Les clients se connectent en HTTP.",
    "quotas.md": "# Quotas\n\nLa limite est de dix requêtes par minute. Le code de dépassement est 429.",
    "glossaire.md": "# Glossaire\n\nLe mot-clé XK-42-ZETA désigne le jeton de maintenance annuel.",
}
BETA = {"reseau.md": "# Réseau beta\n\nLe projet beta écoute sur le port 9999 pour ses clients HTTP."}


@pytest.fixture(scope="module")
async def loaded(store_factory):
    store = store_factory("retrievers")
    ids = {}
    for project, docs in (("alpha", ALPHA), ("beta", BETA)):
        for name, text in docs.items():
            ids[(project, name)] = (await ingest_bytes(store, project_id=project, filename=name, data=text.encode())).file_id
    return store, ids


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
async def test_every_mode_stays_inside_the_project(loaded, mode):
    store, ids = loaded
    hits = await store.search("port des clients HTTP", project_id="alpha", mode=mode, top_k=10)
    assert hits and all(h["project_id"] == "alpha" for h in hits)
    assert ids[("beta", "reseau.md")] not in {h["file_id"] for h in hits}
    beta = await store.search("port des clients HTTP", project_id="beta", mode=mode, top_k=10)
    assert {h["file_id"] for h in beta} == {ids[("beta", "reseau.md")]}


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
async def test_sources_restrict_and_empty_means_whole_project(loaded, mode):
    store, ids = loaded
    quotas = ids[("alpha", "quotas.md")]
    restricted = await store.search("port HTTP requêtes", project_id="alpha", sources=[quotas], mode=mode, top_k=10)
    assert {h["file_id"] for h in restricted} == {quotas}
    whole = await store.search("port HTTP requêtes minute", project_id="alpha", sources=[], mode="dense", top_k=10)
    assert len({h["file_id"] for h in whole}) == 3
    other_project_file = await store.search("port", project_id="alpha", sources=[ids[("beta", "reseau.md")]], mode=mode)
    assert other_project_file == []


async def test_hybrid_ranks_an_exact_rare_keyword_first(loaded):
    store, ids = loaded
    hits = await store.search("XK-42-ZETA", project_id="alpha", mode="hybrid", top_k=3)
    assert hits[0]["file_id"] == ids[("alpha", "glossaire.md")]
    assert (await store.search("XK-42-ZETA", project_id="alpha", mode="sparse", top_k=1))[0]["file_id"] == ids[("alpha", "glossaire.md")]


async def test_reingest_replaces_without_duplicates(store_factory):
    store = store_factory("reingest")
    first = await ingest_bytes(store, project_id="p", filename="a.md", data=b"# A\n\nLa couleur du projet est le vert.")
    again = await ingest_bytes(store, project_id="p", filename="a.md", data=b"# A\n\nLa couleur du projet est le vert.")
    assert first.file_id == again.file_id == file_id_for("p", "a.md")
    assert [f.chunks for f in await store.list_files(project_id="p")] == [1]
    await ingest_bytes(store, project_id="p", filename="a.md", data=b"# A\n\nLa couleur du projet est le rouge.")
    texts = [h["text"] for h in await store.search("couleur du projet", project_id="p", top_k=10)]
    assert len(texts) == 1 and "rouge" in texts[0]


async def test_failed_write_keeps_the_previous_version(store_factory, monkeypatch):
    store = store_factory("atomic")
    long_text = "# Long\n\n" + "\n\n".join(f"Paragraphe {i} sur le sujet du stockage durable." * 5 for i in range(40))
    await ingest_bytes(store, project_id="p", filename="long.md", data=long_text.encode())
    before = (await store.get_file(project_id="p", file_id=file_id_for("p", "long.md"))).chunks
    assert before > 3

    calls = {"n": 0}
    real_upsert = store._client.upsert

    def failing_upsert(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real_upsert(*args, **kwargs)

    monkeypatch.setattr(store._client, "upsert", failing_upsert)
    monkeypatch.setattr("retrievers.qdrant.UPSERT_BATCH", 2)
    with pytest.raises(OSError):
        await ingest_bytes(store, project_id="p", filename="long.md", data=long_text.replace("durable", "fragile").encode())
    info = await store.get_file(project_id="p", file_id=file_id_for("p", "long.md"))
    assert info.chunks == before
    hits = await store.search("stockage fragile", project_id="p", mode="sparse", top_k=50)
    assert all("fragile" not in h["text"] for h in hits)


async def test_store_persists_across_reopen_and_locks_its_path(settings_factory):
    settings = settings_factory("persist")
    store = build_store(settings)
    await ingest_bytes(store, project_id="p", filename="n.txt", data=b"Note\nLe serveur de secours s'appelle Orion.")
    with pytest.raises(StoreUnavailableError, match="another process"):
        build_store(settings)
    store.close()
    reopened = build_store(settings)
    try:
        hits = await reopened.search("serveur de secours", project_id="p")
        assert hits and "Orion" in hits[0]["text"]
        assert [f.title for f in await reopened.list_files(project_id="p")] == ["Note"]
    finally:
        reopened.close()


async def test_delete_file_removes_its_chunks(store_factory):
    store = store_factory("delete")
    result = await ingest_bytes(store, project_id="p", filename="x.md", data=b"# X\n\nLe code secret est 1234.")
    assert await store.delete_file(project_id="p", file_id=result.file_id) == 1
    assert await store.search("code secret", project_id="p") == []
    assert await store.get_file(project_id="p", file_id=result.file_id) is None


# -- loaders ----------------------------------------------------------------------------------


def _pdf(text: str) -> bytes:
    """A minimal one-page PDF with real text (offsets computed, so any reader accepts it)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def _docx(title: str, body: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(title, level=1)
    document.add_paragraph(body)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("filename", "data", "title", "phrase"),
    [
        ("guide.md", "# Guide rapide\n\nInstallez avec pip.".encode(), "Guide rapide", "Installez avec pip"),
        ("note.txt", "Note interne\nLe comité se réunit le mardi.".encode("cp1252"), "Note interne", "mardi"),
        (
            "page.html",
            b"<html><head><title>FAQ</title><style>p{}</style><script>alert(1)</script></head>"
            b"<body><h1>Questions</h1><p>Le support ouvre a 9h.</p></body></html>",
            "FAQ",
            "support ouvre",
        ),
        ("rapport.pdf", _pdf("Le budget annuel est de 42 euros."), "rapport", "budget annuel"),
        ("compte-rendu.docx", _docx("Compte rendu", "La decision est prise."), "Compte rendu", "decision est prise"),
    ],
)
def test_loaders_extract_title_and_text(filename, data, title, phrase):
    document = load_document(filename, data)
    assert document.title == title
    assert phrase in document.text
    assert "alert" not in document.text


def test_unsupported_and_empty_files_are_rejected_clearly():
    with pytest.raises(UnsupportedFileTypeError, match=r"\.docx"):
        load_document("image.png", b"\x89PNG")
    with pytest.raises(EmptyDocumentError):
        load_document("vide.md", b"  \n ")
    with pytest.raises(EmptyDocumentError, match="Cannot read"):
        load_document("casse.pdf", b"%PDF-1.4 garbage")
    with pytest.raises(EmptyDocumentError):
        load_document("casse.docx", b"not a zip")


def test_markdown_chunks_respect_size_and_headings(settings_factory):
    settings = settings_factory("chunks", chunk_size=200, chunk_overlap=20)
    text = "# T\n\n" + "\n\n".join(f"## Section {i}\n\n" + "mot " * 30 for i in range(5))
    chunks = chunk_text(text, markdown=True, settings=settings)
    assert len(chunks) == 5 and all(len(c) <= 200 for c in chunks)
    assert all(c.count("## Section") == 1 for c in chunks)  # split at headings, never mid-section


async def test_ingest_paths_walks_folders_and_counts(store_factory, tmp_path: Path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.md").write_text("# A\n\nPremier document.")
    (tmp_path / "sub" / "b.txt").write_text("B\nSecond document.")
    (tmp_path / "ignored.png").write_bytes(b"\x89PNG")
    store = store_factory("paths")
    report = await ingest_paths(store, [tmp_path], project_id="p", progress=False)
    assert report.files == 2 and report.chunks == 2
    assert {r.file_id for r in report.results} == {file_id_for("p", "a.md"), file_id_for("p", "sub/b.txt")}

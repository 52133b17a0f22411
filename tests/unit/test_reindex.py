"""Data of the previous embedded engine (qdrant-client local mode): refused at start-up with a
message naming ``routeur reindex``, then rebuilt by it into the new store, nothing lost."""

from __future__ import annotations

import asyncio

import pytest
from qdrant_client import models

from retrievers import build_store
from retrievers.base import StoreUnavailableError
from retrievers.ingestion import ingest_bytes
from retrievers.qdrant import QdrantDocumentStore
from routeur import cli

DOCS = {
    "reseau.md": "# Réseau\n\nLe service écoute sur le port 7860.",
    "long.md": "# Long\n\n" + "\n\n".join(f"Paragraphe {i} sur la sauvegarde nocturne. " * 6 for i in range(10)),
}


async def _old_store(settings, embeddings) -> dict[tuple[str, str], int]:
    """Writes the old layout (one local-mode collection on <data_dir>/qdrant), plus the leftover
    of an interrupted re-ingest the old engine could leave: extra chunks of another version."""
    old = QdrantDocumentStore(settings, embeddings)
    files = {}
    for project in ("alpha", "beta"):
        for name, text in DOCS.items():
            result = await ingest_bytes(old, project_id=project, filename=name, data=text.encode())
            files[(project, result.file_id)] = result.chunks
    [(project, file_id)] = [key for key, chunks in files.items() if key[0] == "alpha" and chunks == 1]
    old._client.upsert(
        old.collection,
        points=[
            models.PointStruct(
                id="00000000-0000-4000-8000-000000000001",
                vector={"dense": [0.1] * 384, "sparse": models.SparseVector(indices=[1], values=[1.0])},
                payload={"project_id": project, "file_id": file_id, "ingest_id": "partial", "chunk_index": 1,
                         "text": "morceau partiel", "title": "Réseau", "created_at": "2000-01-01T00:00:00+00:00"},
            )  # fmt: skip
        ],
    )
    old.close()
    return files


async def test_old_data_is_refused_at_start_up_then_reindexed(settings_factory, embeddings, monkeypatch, capsys):
    settings = settings_factory("old")
    files = await _old_store(settings, embeddings)
    with pytest.raises(StoreUnavailableError, match=r"previous embedded store.*routeur reindex"):
        build_store(settings)

    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    assert await asyncio.to_thread(cli.main, ["reindex"]) == 0
    out = capsys.readouterr()
    assert f"Reindexed 4 files, {sum(files.values())} chunks" in out.out
    assert "left out 1 chunks" in out.err
    assert "Chunks" in out.err and "Files" in out.err  # the progress bars

    store = build_store(settings)  # no longer refused
    try:
        for project in ("alpha", "beta"):
            listed = {f.file_id: f.chunks for f in await store.list_files(project_id=project)}
            assert listed == {file_id: chunks for (p, file_id), chunks in files.items() if p == project}
        [hit] = await store.search("port 7860", project_id="alpha", mode="sparse", top_k=1)
        assert hit["title"] == "Réseau" and "7860" in hit["text"]
        assert "morceau partiel" not in {h["text"] for h in await store.search("morceau partiel", project_id="alpha")}
    finally:
        store.close()
    assert [p.name.startswith("qdrant.reindexed-") for p in settings.data_dir.iterdir() if "qdrant" in p.name] == [True]
    assert await asyncio.to_thread(cli.main, ["reindex"]) == 0 and "Nothing to reindex" in capsys.readouterr().out

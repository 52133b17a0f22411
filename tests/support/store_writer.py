"""A writer process for crash tests: ``python -m tests.support.store_writer BACKEND DATA_DIR WHEN``.

It writes version 1 of ``s.md`` whole, then starts version 2 and dies by SIGKILL at ``WHEN``:
``staging`` — prints ``staging`` after two batches of two chunks and blocks, for the parent to ``kill -9`` it;
``commit`` — kills itself right after the commit deleted version 1, before version 2 is published.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from langchain_core.embeddings import DeterministicFakeEmbedding

from retrievers.edge import EdgeDocumentStore
from retrievers.ingestion import ingest_bytes
from retrievers.qdrant import QdrantDocumentStore
from routeur.settings import Settings

OLD = "# Stockage\n\n" + "\n\n".join(f"Paragraphe {i} sur le stockage durable des sauvegardes. " * 5 for i in range(16))
NEW = OLD.replace("durable", "fragile")


def open_store(backend: str, data_dir: Path, embeddings, **kwargs):
    settings = Settings(_env_file=None, data_dir=data_dir)
    cls = EdgeDocumentStore if backend == "edge" else QdrantDocumentStore
    return cls(settings, embeddings, **kwargs)


class BlockingEmbeddings(DeterministicFakeEmbedding):
    """Hash embeddings whose third batch of a run never returns."""

    calls: int = 0

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        if self.calls == 3:
            print("staging", flush=True)
            await asyncio.Event().wait()
        return self.embed_documents(texts)


async def main(backend: str, data_dir: Path, when: str) -> None:
    embeddings = DeterministicFakeEmbedding(size=384)
    store = open_store(backend, data_dir, embeddings, batch_size=2)
    await ingest_bytes(store, project_id="p", filename="s.md", data=OLD.encode())
    print("v1", flush=True)
    if when == "staging":
        store._embeddings = BlockingEmbeddings(size=384)
    else:
        publish = store._engine_publish

        def die_before_publish(*args):
            os.kill(os.getpid(), signal.SIGKILL)
            publish(*args)

        store._engine_publish = die_before_publish
    await ingest_bytes(store, project_id="p", filename="s.md", data=NEW.encode())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), sys.argv[3]))

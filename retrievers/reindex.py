"""``routeur reindex``: rebuild the embedded store from data the previous engine wrote.

The previous default (qdrant-client local mode on ``<data_dir>/qdrant``) kept each chunk's text,
title, URL, section and page in its payload, which is all a new store needs: every file is read
back, re-embedded with the store's current definition and published through the normal write
path. When done, the old directory is renamed (never deleted) so the server starts again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retrievers.base import Chunk
from retrievers.generations import GenerationalStore
from routeur.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class ReindexReport:
    files: int = 0
    chunks: int = 0
    moved_to: Path | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    """Files whose old data held several versions (an interrupted re-ingest): file id → the
    number of chunks of older or partial versions not carried over."""


def read_old_files(path: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Every point payload of every collection at ``path``, grouped by (project, file)."""
    from qdrant_client import QdrantClient

    client = QdrantClient(path=str(path))
    try:
        grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for collection in client.get_collections().collections:
            offset = None
            while True:
                points, offset = client.scroll(
                    collection.name, limit=1024, offset=offset, with_payload=True, with_vectors=False
                )
                for point in points:
                    payload = point.payload or {}
                    if "project_id" in payload and "file_id" in payload and not payload["project_id"].startswith("\x00"):
                        grouped[(payload["project_id"], payload["file_id"])].append(payload)
                if offset is None:
                    break
        return grouped
    finally:
        client.close()


def newest_version(payloads: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The chunks of the most recently written version, and how many others were left out."""
    versions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for payload in payloads:
        versions[payload.get("ingest_id", "")].append(payload)
    newest = max(versions.values(), key=lambda v: (max(p.get("created_at", "") for p in v), len(v)))
    return sorted(newest, key=lambda p: int(p.get("chunk_index", 0))), len(payloads) - len(newest)


async def reindex(settings: Settings, store: GenerationalStore, *, progress: bool = True) -> ReindexReport:
    """Copy the old store at ``settings.resolved_qdrant_path()`` into ``store``, then rename it."""
    from tqdm import tqdm

    old = settings.resolved_qdrant_path()
    grouped = read_old_files(old)
    report = ReindexReport()
    total = sum(len(p) for p in grouped.values())
    with (
        tqdm(total=len(grouped), desc="Files", unit="file", disable=not progress) as files_bar,
        tqdm(total=total, desc="Chunks", unit="chunk", disable=not progress) as chunks_bar,
    ):
        for (project_id, file_id), payloads in sorted(grouped.items()):
            chunks, dropped = newest_version(payloads)
            if dropped:
                report.dropped[file_id] = dropped
                log.warning("File %s of project %s held %d chunks of other versions: kept the newest", file_id, project_id, dropped)
                chunks_bar.update(dropped)
            first = chunks[0]
            await store.upsert_file(
                project_id=project_id,
                file_id=file_id,
                title=first.get("title", ""),
                url=first.get("url"),
                chunks=[Chunk(p.get("text", ""), p.get("section") or "", p.get("page")) for p in chunks],
                progress=chunks_bar.update,
            )
            report.files += 1
            report.chunks += len(chunks)
            files_bar.update(1)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    report.moved_to = old.with_name(f"{old.name}.reindexed-{stamp}")
    old.rename(report.moved_to)
    return report

"""Upload sessions: a batch of files a client adds over several requests, whose
status it can read back, and which it can delete together with its documents.

The registry is a small SQLite file beside the data; the documents themselves live in the
vector store. A file that fails keeps its error here, so a client sees what to fix.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite

SCHEMA = """
CREATE TABLE IF NOT EXISTS upload_sessions (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    created_at TEXT NOT NULL
);
-- owner, active: added later (see MIGRATIONS) so existing files open unchanged.
CREATE TABLE IF NOT EXISTS upload_files (
    session_id TEXT NOT NULL REFERENCES upload_sessions(id) ON DELETE CASCADE,
    filename TEXT NOT NULL,
    file_id TEXT,
    title TEXT,
    chunks INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    error TEXT,
    added_at TEXT NOT NULL,
    PRIMARY KEY (session_id, filename)
);
"""

# Columns added after the first release; sessions created before them have no owner and stay active.
MIGRATIONS = {
    "owner": "ALTER TABLE upload_sessions ADD COLUMN owner TEXT",
    "active": "ALTER TABLE upload_sessions ADD COLUMN active INTEGER NOT NULL DEFAULT 1",
}


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    file_id: str | None
    title: str | None
    chunks: int
    status: str
    error: str | None
    added_at: str


@dataclass(frozen=True)
class UploadSession:
    id: str
    project_id: str
    created_at: str
    files: list[UploadedFile] = field(default_factory=list)
    owner: str | None = None
    active: bool = True


class UploadSessionStore:
    def __init__(self, connection: aiosqlite.Connection):
        self._db = connection

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path) -> AsyncIterator[UploadSessionStore]:
        path.parent.mkdir(parents=True, exist_ok=True)
        async with aiosqlite.connect(path) as connection:
            await connection.execute("PRAGMA foreign_keys = ON")
            await connection.executescript(SCHEMA)
            async with connection.execute("PRAGMA table_info(upload_sessions)") as cursor:
                columns = {row[1] async for row in cursor}
            for column, statement in MIGRATIONS.items():
                if column not in columns:
                    await connection.execute(statement)
            await connection.commit()
            yield cls(connection)

    async def create(self, project_id: str, owner: str | None = None) -> UploadSession:
        session = UploadSession(id=uuid.uuid4().hex, project_id=project_id, created_at=_now(), owner=owner)
        await self._db.execute(
            "INSERT INTO upload_sessions (id, project_id, created_at, owner, active) VALUES (?, ?, ?, ?, 1)",
            (session.id, session.project_id, session.created_at, owner),
        )
        await self._db.commit()
        return session

    async def get(self, project_id: str, session_id: str) -> UploadSession | None:
        """The session if it belongs to ``project_id``: ids from another project are not found."""
        async with self._db.execute(
            "SELECT id, project_id, created_at, owner, active FROM upload_sessions WHERE id = ? AND project_id = ?",
            (session_id, project_id),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        async with self._db.execute(
            "SELECT filename, file_id, title, chunks, status, error, added_at FROM upload_files "
            "WHERE session_id = ? ORDER BY added_at, filename",
            (session_id,),
        ) as cursor:
            files = [UploadedFile(*r) async for r in cursor]
        return UploadSession(id=row[0], project_id=row[1], created_at=row[2], files=files, owner=row[3], active=bool(row[4]))

    async def record(self, session_id: str, item: UploadedFile) -> None:
        await self._db.execute(
            "INSERT OR REPLACE INTO upload_files (session_id, filename, file_id, title, chunks, status, error, added_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (session_id, item.filename, item.file_id, item.title, item.chunks, item.status, item.error, item.added_at),
        )
        await self._db.commit()

    async def superseded(self, session_id: str, file_id: str) -> bool:
        """Whether another session ingested ``file_id`` (same project, same name) after this one:
        then the stored version is that session's, and deleting this session must keep it."""
        async with self._db.execute(
            "SELECT 1 FROM upload_files AS other JOIN upload_files AS mine "
            "ON mine.session_id = ? AND mine.file_id = ? AND mine.status = 'ingested' "
            "WHERE other.file_id = mine.file_id AND other.session_id != mine.session_id "
            "AND other.status = 'ingested' AND other.rowid > mine.rowid LIMIT 1",
            (session_id, file_id),
        ) as cursor:
            return await cursor.fetchone() is not None

    async def deactivate(self, project_id: str, owner: str) -> list[str]:
        """Close the owner's open sessions in the project (they keep their files and documents,
        but take no more files); the ids closed."""
        async with self._db.execute(
            "UPDATE upload_sessions SET active = 0 WHERE project_id = ? AND owner = ? AND active = 1 RETURNING id",
            (project_id, owner),
        ) as cursor:
            closed = sorted([row[0] async for row in cursor])
        await self._db.commit()
        return closed

    async def delete(self, session_id: str) -> None:
        await self._db.execute("DELETE FROM upload_sessions WHERE id = ?", (session_id,))
        await self._db.commit()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def uploaded(filename: str, *, file_id: str | None, title: str | None, chunks: int, status: str, error: str | None = None) -> UploadedFile:
    return UploadedFile(filename, file_id, title, chunks, status, error, _now())

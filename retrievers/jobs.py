"""Background ingestion jobs, kept on disk until each file is done, so a restart loses none.

A job is a batch of uploaded files of one project. Its bytes are written under
``<data_dir>/jobs/<job id>/`` (each file to a temporary name, synced, then renamed: a crash
leaves a whole file or none) before the job is recorded in SQLite, and each file's bytes are
deleted once it is ``indexed`` or in ``error``. A file moves ``queued → parsing → embedding →
indexed | error``.

Several API processes may share the directory (replicas on one host with a Qdrant server): each
file is held by one worker under a lease the worker renews while it lives. A file whose lease ran
out (its worker died) goes back to ``queued`` for whoever claims it next, its store write, if any,
having been undone by the store's own recovery, or, its bytes gone, to ``error`` with the reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import aiosqlite

FileStatus = Literal["queued", "parsing", "embedding", "indexed", "error"]
JobStatus = Literal["queued", "running", "done"]
JobState = Literal["active", "finished"]
FINAL = ("indexed", "error")
IN_FLIGHT = ("parsing", "embedding")

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    owner TEXT,
    on_conflict TEXT NOT NULL,
    title TEXT,
    url TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS job_files (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    filename TEXT NOT NULL,
    size INTEGER NOT NULL,
    status TEXT NOT NULL,
    file_id TEXT,
    title TEXT,
    chunks INTEGER NOT NULL DEFAULT 0,
    outcome TEXT,
    previous_chunks INTEGER,
    version INTEGER,
    sha256 TEXT,
    error TEXT,
    status_code INTEGER,
    updated_at TEXT NOT NULL,
    worker TEXT,
    lease_until TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, position)
);
CREATE INDEX IF NOT EXISTS job_files_status ON job_files(status);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs(finished_at);
"""
RESULT_FIELDS = ("file_id", "title", "chunks", "outcome", "previous_chunks", "version", "sha256", "error", "status_code")


@dataclass(frozen=True)
class JobFile:
    position: int
    filename: str
    size: int
    status: FileStatus
    file_id: str | None = None
    title: str | None = None
    chunks: int = 0
    outcome: str | None = None
    previous_chunks: int | None = None
    version: int | None = None
    sha256: str | None = None
    error: str | None = None
    status_code: int | None = None
    updated_at: str = ""


@dataclass(frozen=True)
class Job:
    id: str
    project_id: str
    owner: str | None
    on_conflict: str
    title: str | None
    url: str | None
    created_at: str
    updated_at: str
    finished_at: str | None
    files: list[JobFile] = field(default_factory=list)

    @property
    def status(self) -> JobStatus:
        if all(f.status in FINAL for f in self.files):
            return "done"
        if all(f.status == "queued" for f in self.files):
            return "queued"
        return "running"


ORPHAN_AGE_S = 3600
"""A byte folder without a job is removed only this old (another worker may be creating it)."""


@dataclass(frozen=True)
class Claimed:
    """Files a worker took over from a dead one (or from its own previous run), and files it
    failed because their bytes were gone."""

    files: list[tuple[Job, JobFile]]
    lost: int


class JobStore:
    """Jobs in SQLite, their files' bytes beside it (see the module docstring)."""

    def __init__(self, connection: aiosqlite.Connection, directory: Path):
        self._db = connection
        self.directory = directory
        # Requests read through the connection workers write through, and a connection sees its
        # own uncommitted changes: a job read between a file's update and the job's finishing
        # would be "done" without ``finished_at`` (or, mid-create, have no files). Reads of a job
        # wait for a multi-statement write's commit.
        self._transaction = asyncio.Lock()

    @classmethod
    @asynccontextmanager
    async def open(cls, directory: Path) -> AsyncIterator[JobStore]:
        directory.mkdir(parents=True, exist_ok=True)
        async with aiosqlite.connect(directory / "jobs.sqlite") as connection:
            await connection.execute("PRAGMA foreign_keys = ON")
            await connection.execute("PRAGMA journal_mode = WAL")
            await connection.executescript(SCHEMA)
            await connection.commit()
            yield cls(connection, directory)

    # -- bytes ----------------------------------------------------------------------------------

    def _blob(self, job_id: str, position: int) -> Path:
        return self.directory / job_id / f"{position:05d}.bin"

    def _write_blobs(self, job_id: str, contents: dict[int, bytes]) -> None:
        if not contents:
            return
        folder = self.directory / job_id
        folder.mkdir(parents=True)
        for position, data in contents.items():
            target = self._blob(job_id, position)
            partial = target.with_suffix(".part")
            with open(partial, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, target)
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    async def read_bytes(self, job_id: str, position: int) -> bytes | None:
        path = self._blob(job_id, position)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    def _drop_blob(self, job_id: str, position: int) -> None:
        self._blob(job_id, position).unlink(missing_ok=True)
        folder = self.directory / job_id
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()

    # -- jobs -----------------------------------------------------------------------------------

    async def create(
        self,
        project_id: str,
        files: Sequence[tuple[str, bytes]],
        *,
        owner: str | None,
        on_conflict: str,
        title: str | None = None,
        url: str | None = None,
        failed: dict[int, tuple[str, int]] | None = None,
        worker: str | None = None,
        lease_s: float = 0,
    ) -> Job:
        """Write the bytes, then record the job: every file ``queued`` and held by ``worker``,
        except those in ``failed`` (position → reason, status code), refused before any work."""
        failed = failed or {}
        job_id = uuid.uuid4().hex
        now = _now()
        lease = _now(lease_s)
        await asyncio.to_thread(self._write_blobs, job_id, {i: data for i, (_, data) in enumerate(files) if i not in failed})
        async with self._transaction:
            await self._db.execute(
                "INSERT INTO jobs (id, project_id, owner, on_conflict, title, url, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, project_id, owner, on_conflict, title, url, now, now),
            )
            await self._db.executemany(
                "INSERT INTO job_files (job_id, position, filename, size, status, error, status_code, updated_at, worker, lease_until) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (job_id, i, name, len(data), "error" if i in failed else "queued", *(failed.get(i) or (None, None)), now, worker, lease)
                    for i, (name, data) in enumerate(files)
                ],
            )
            await self._finish_if_done(job_id)
            await self._db.commit()
        job = await self.get(project_id, job_id)
        assert job is not None
        return job

    async def get(self, project_id: str, job_id: str) -> Job | None:
        """The job if it belongs to ``project_id``: another project's job is not found."""
        async with self._transaction:
            async with self._db.execute(
                "SELECT id, project_id, owner, on_conflict, title, url, created_at, updated_at, finished_at FROM jobs "
                "WHERE id = ? AND project_id = ?",
                (job_id, project_id),
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return None
            async with self._db.execute(
                f"SELECT position, filename, size, status, {', '.join(RESULT_FIELDS)}, updated_at FROM job_files "
                "WHERE job_id = ? ORDER BY position",
                (job_id,),
            ) as cursor:
                files = [JobFile(*r) async for r in cursor]
        return Job(*row, files=files)

    async def list_jobs(
        self, project_id: str, *, state: JobState | None = None, offset: int = 0, limit: int = 50
    ) -> tuple[list[Job], int]:
        """One page of the project's jobs, newest first, and how many there are in all;
        ``state``: ``active`` (a file not final yet) or ``finished``."""
        where = "project_id = ?" + {None: "", "active": " AND finished_at IS NULL", "finished": " AND finished_at IS NOT NULL"}[state]
        async with self._db.execute(f"SELECT COUNT(*) FROM jobs WHERE {where}", (project_id,)) as cursor:
            row = await cursor.fetchone()
        total = row[0] if row else 0
        async with self._db.execute(
            f"SELECT id FROM jobs WHERE {where} ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?", (project_id, limit, offset)
        ) as cursor:
            ids = [r[0] async for r in cursor]
        jobs = [job for job_id in ids if (job := await self.get(project_id, job_id)) is not None]
        return jobs, total

    async def update(self, job_id: str, position: int, status: FileStatus, **result: Any) -> None:
        """Move one file on; its bytes go once it is final."""
        unknown = set(result) - set(RESULT_FIELDS)
        if unknown:
            raise ValueError(f"Unknown job file fields: {sorted(unknown)}")
        now = _now()
        assignments = ", ".join(f"{name} = ?" for name in ("status", *result, "updated_at"))
        async with self._transaction:
            await self._db.execute(
                f"UPDATE job_files SET {assignments} WHERE job_id = ? AND position = ?",
                (status, *result.values(), now, job_id, position),
            )
            await self._db.execute("UPDATE jobs SET updated_at = ? WHERE id = ?", (now, job_id))
            if status in FINAL:
                await self._finish_if_done(job_id)  # in the same transaction: "done" always has finished_at
            await self._db.commit()
        if status in FINAL:
            await asyncio.to_thread(self._drop_blob, job_id, position)

    async def _finish_if_done(self, job_id: str) -> None:
        await self._db.execute(
            "UPDATE jobs SET finished_at = updated_at WHERE id = ? AND finished_at IS NULL AND NOT EXISTS "
            f"(SELECT 1 FROM job_files WHERE job_id = ? AND status NOT IN {FINAL})",
            (job_id, job_id),
        )

    async def pending(self, *, expired_only: bool = False) -> list[tuple[Job, JobFile]]:
        """Files not final yet (only those whose lease ran out, with ``expired_only``), oldest
        job first, in upload order."""
        condition = " AND job_files.lease_until < ?" if expired_only else ""
        async with self._db.execute(
            "SELECT jobs.id, jobs.project_id, job_files.position FROM job_files JOIN jobs ON jobs.id = job_files.job_id "
            f"WHERE job_files.status NOT IN {FINAL}{condition} ORDER BY jobs.created_at, jobs.id, job_files.position",
            (_now(),) if expired_only else (),
        ) as cursor:
            rows = await cursor.fetchall()
        jobs: dict[str, Job] = {}
        out = []
        for job_id, project_id, position in rows:
            if job_id not in jobs:
                job = await self.get(project_id, job_id)
                assert job is not None
                jobs[job_id] = job
            out.append((jobs[job_id], jobs[job_id].files[position]))
        return out

    async def renew(self, worker: str, lease_s: float) -> None:
        """Extend the lease of every file ``worker`` holds: it is alive."""
        await self._db.execute(
            f"UPDATE job_files SET lease_until = ? WHERE worker = ? AND status NOT IN {FINAL}", (_now(lease_s), worker)
        )
        await self._db.commit()

    async def claim_expired(self, worker: str, lease_s: float, *, everything: bool = False) -> Claimed:
        """Take over the files whose worker stopped renewing them (all unfinished files with
        ``everything``: when this worker is known to be the only one). Each goes back to
        ``queued`` under ``worker``, or to ``error`` when its bytes are gone."""
        claimed, lost = [], 0
        for job, item in await self.pending(expired_only=not everything):
            if not self._blob(job.id, item.position).is_file():
                await self.update(
                    job.id, item.position, "error", status_code=500,
                    error="The server stopped and this file's uploaded bytes were gone: upload it again",
                )  # fmt: skip
                lost += 1
                continue
            guard = "" if everything else " AND lease_until < ?"
            cursor = await self._db.execute(
                f"UPDATE job_files SET worker = ?, lease_until = ?, status = 'queued', updated_at = ? "
                f"WHERE job_id = ? AND position = ? AND status NOT IN {FINAL}{guard}",
                (worker, _now(lease_s), _now(), job.id, item.position, *(() if everything else (_now(),))),
            )
            await self._db.commit()
            if cursor.rowcount == 1:
                claimed.append((job, item))
        return Claimed(claimed, lost)

    async def remove_orphans(self, min_age_s: float = ORPHAN_AGE_S) -> int:
        """Byte folders of no job (a crash between writing the bytes and recording the job)."""
        async with self._db.execute("SELECT id FROM jobs") as cursor:
            known = {row[0] async for row in cursor}
        cutoff = datetime.now(UTC).timestamp() - min_age_s
        removed = 0
        for folder in self.directory.iterdir():
            if folder.is_dir() and folder.name not in known and folder.stat().st_mtime <= cutoff:
                await asyncio.to_thread(shutil.rmtree, folder, True)
                removed += 1
        return removed

    async def prune(self, older_than_s: int) -> int:
        """Forget jobs finished more than ``older_than_s`` seconds ago; how many."""
        cutoff = (datetime.now(UTC) - timedelta(seconds=older_than_s)).isoformat(timespec="milliseconds")
        async with self._db.execute("DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ? RETURNING id", (cutoff,)) as cursor:
            removed = [row[0] async for row in cursor]
        await self._db.commit()
        for job_id in removed:
            await asyncio.to_thread(shutil.rmtree, self.directory / job_id, True)
        return len(removed)


def _now(plus_s: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=plus_s)).isoformat(timespec="milliseconds")

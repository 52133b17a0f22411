"""Runs background ingestion jobs inside the server process, on the server's own store.

The embedded store is held by one process, so jobs cannot run in a separate worker: they are
asyncio tasks here, at most ``ingest_concurrency`` files at a time, each through the same
ingestion path as a synchronous upload (a file version is published whole or not at all). Jobs
are persisted by ``retrievers.jobs.JobStore``: at start-up, files left in flight are queued again
(or failed with a reason when their bytes are gone); at shutdown, files in flight are cancelled
(the store rolls their write back) and stay queued for the next start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from api.services.uploads import ReadUpload, refusal
from retrievers.base import DocumentStore
from retrievers.ingestion import OnConflict, Stage, ingest_bytes
from retrievers.jobs import Job, JobFile, JobStore
from routeur.settings import Settings

log = logging.getLogger("routeur.jobs")


class IngestionJobs:
    def __init__(self, store: DocumentStore, jobs: JobStore, settings: Settings):
        self._store = store
        self._jobs = jobs
        self._settings = settings
        self._slots = asyncio.Semaphore(settings.ingest_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    @asynccontextmanager
    async def running(cls, store: DocumentStore, settings: Settings) -> AsyncIterator[IngestionJobs]:
        """Open the job store, resume what a previous run left, and cancel what is in flight on exit."""
        async with JobStore.open(settings.data_dir / "jobs") as jobs:
            runner = cls(store, jobs, settings)
            await runner._resume()
            try:
                yield runner
            finally:
                await runner.close()

    async def _resume(self) -> None:
        pruned = await self._jobs.prune(self._settings.jobs_retention_s)
        recovered = await self._jobs.recover()
        pending = await self._jobs.pending()
        if recovered.requeued or recovered.lost or pending:
            log.warning(
                "Ingestion jobs: %d file(s) resumed (%d were in flight), %d failed for lost bytes; %d old job(s) forgotten",
                len(pending), recovered.requeued, recovered.lost, pruned,
            )  # fmt: skip
        for job, item in pending:
            self._schedule(job, item)

    async def submit(
        self,
        project_id: str,
        files: list[ReadUpload],
        *,
        owner: str | None,
        on_conflict: OnConflict,
        title: str | None,
        url: str | None,
    ) -> Job:
        """Persist the files, then queue them; returns the job as recorded (files refused while
        reading the request are in ``error`` from the start)."""
        failed = {i: (f.refused.message or "", f.refused.status_code) for i, f in enumerate(files) if f.refused is not None}
        job = await self._jobs.create(
            project_id, [(f.filename, f.data) for f in files], owner=owner, on_conflict=on_conflict, title=title, url=url, failed=failed
        )
        for item in job.files:
            if item.status == "queued":
                self._schedule(job, item)
        return job

    async def get(self, project_id: str, job_id: str) -> Job | None:
        return await self._jobs.get(project_id, job_id)

    def _schedule(self, job: Job, item: JobFile) -> None:
        task = asyncio.create_task(self._run(job, item), name=f"ingest-{job.id}-{item.position}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job: Job, item: JobFile) -> None:
        async with self._slots:
            data = await self._jobs.read_bytes(job.id, item.position)
            if data is None:
                await self._jobs.update(job.id, item.position, "error", status_code=500, error="The uploaded bytes are missing: upload it again")
                return

            async def stage(name: Stage) -> None:
                await self._jobs.update(job.id, item.position, name)

            try:
                result = await ingest_bytes(
                    self._store, project_id=job.project_id, filename=item.filename, data=data, title=job.title, url=job.url,
                    settings=self._settings, on_conflict=job.on_conflict, on_stage=stage,  # type: ignore[arg-type]
                )  # fmt: skip
            except asyncio.CancelledError:
                raise  # shutdown: the file stays in flight and is queued again at the next start
            except Exception as exc:
                status = refusal(exc)
                if status is None:
                    log.exception("Ingestion job %s: %s failed", job.id, item.filename)
                    status = 500
                await self._jobs.update(job.id, item.position, "error", status_code=status, error=str(exc) or type(exc).__name__)
                return
            source = result.source
            await self._jobs.update(
                job.id, item.position, "indexed",
                file_id=result.file_id, title=result.title, chunks=result.chunks, outcome=result.outcome,
                previous_chunks=result.previous_chunks, version=source.version if source else None,
                sha256=source.sha256 if source else None, status_code=201,
            )  # fmt: skip

    async def idle(self) -> None:
        """Wait until no file is queued or in flight (tests, and a clean shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

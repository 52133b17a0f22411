"""Runs background ingestion jobs inside the server process, on the server's own store.

The embedded store is held by one process, so jobs cannot run in a separate worker: they are
asyncio tasks here, at most ``ingest_concurrency`` files at a time, each through the same
ingestion path as a synchronous upload (a file version is published whole or not at all). Jobs
are persisted by ``retrievers.jobs.JobStore``; at shutdown, files in flight are cancelled (the
store rolls their write back) and stay unfinished for the next start.

On the embedded store this process is the only worker, so at start-up it resumes every
unfinished file at once. Against a Qdrant server, replicas may share the jobs directory: each
renews a lease on the files it runs, and every replica takes over files whose lease ran out
(their worker died) within ``lease_s``, including its own previous run's after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from api.services.uploads import ReadUpload, refusal
from retrievers.base import DocumentStore
from retrievers.ingestion import OnConflict, Stage, ingest_bytes
from retrievers.jobs import ORPHAN_AGE_S, Job, JobFile, JobState, JobStore
from routeur.settings import Settings

log = logging.getLogger("routeur.jobs")
LEASE_S = 60.0
"""How long a file stays with a worker that stopped renewing its lease before another takes it."""


class IngestionJobs:
    def __init__(self, store: DocumentStore, jobs: JobStore, settings: Settings, *, exclusive: bool, lease_s: float = LEASE_S):
        self._store = store
        self._jobs = jobs
        self._settings = settings
        self._exclusive = exclusive
        self.lease_s = lease_s
        self.worker = uuid.uuid4().hex
        self._slots = asyncio.Semaphore(settings.ingest_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._active: set[tuple[str, int]] = set()
        self._upkeep: asyncio.Task[None] | None = None

    @classmethod
    @asynccontextmanager
    async def running(cls, store: DocumentStore, settings: Settings, *, lease_s: float = LEASE_S) -> AsyncIterator[IngestionJobs]:
        """Open the job store, resume what was left unfinished, keep leases and take over dead
        workers' files while open, and cancel what is in flight on exit."""
        async with JobStore.open(settings.data_dir / "jobs") as jobs:
            runner = cls(store, jobs, settings, exclusive=settings.qdrant_url is None, lease_s=lease_s)
            await runner._resume()
            runner._upkeep = asyncio.create_task(runner._keep_up(), name="ingestion-jobs-upkeep")
            try:
                yield runner
            finally:
                await runner.close()

    async def _resume(self) -> None:
        pruned = await self._jobs.prune(self._settings.jobs_retention_s)
        await self._jobs.remove_orphans(0 if self._exclusive else ORPHAN_AGE_S)
        claimed = await self._take_over(everything=self._exclusive)
        if claimed or pruned:
            log.warning("Ingestion jobs: %d unfinished file(s) resumed; %d old job(s) forgotten", claimed, pruned)

    async def _take_over(self, *, everything: bool = False) -> int:
        found = await self._jobs.claim_expired(self.worker, self.lease_s, everything=everything)
        if found.lost:
            log.warning("Ingestion jobs: %d file(s) failed, their uploaded bytes were gone", found.lost)
        for job, item in found.files:
            self._schedule(job, item)
        return len(found.files)

    async def _keep_up(self) -> None:
        """Renew this worker's leases; take over files of workers that stopped renewing theirs."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self._jobs.renew(self.worker, self.lease_s)
                if claimed := await self._take_over():
                    log.warning("Ingestion jobs: took over %d file(s) of a worker that stopped", claimed)
            except Exception:
                log.exception("Ingestion jobs: lease upkeep failed; retrying")

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
            project_id, [(f.filename, f.data) for f in files], owner=owner, on_conflict=on_conflict, title=title, url=url,
            failed=failed, worker=self.worker, lease_s=self.lease_s,
        )  # fmt: skip
        for item in job.files:
            if item.status == "queued":
                self._schedule(job, item)
        return job

    async def get(self, project_id: str, job_id: str) -> Job | None:
        return await self._jobs.get(project_id, job_id)

    async def list_jobs(self, project_id: str, *, state: JobState | None, offset: int, limit: int) -> tuple[list[Job], int]:
        return await self._jobs.list_jobs(project_id, state=state, offset=offset, limit=limit)

    def _schedule(self, job: Job, item: JobFile) -> None:
        key = (job.id, item.position)
        if key in self._active:
            return
        self._active.add(key)
        task = asyncio.create_task(self._run(job, item), name=f"ingest-{job.id}-{item.position}")
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            self._active.discard(key)

        task.add_done_callback(done)

    async def _run(self, job: Job, item: JobFile) -> None:
        async with self._slots:
            data = await self._jobs.read_bytes(job.id, item.position)
            if data is None:
                missing = "The uploaded bytes are missing: upload it again"
                await self._jobs.update(job.id, item.position, "error", status_code=500, error=missing)
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
        tasks = [*self._tasks, *([self._upkeep] if self._upkeep else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

"""Background ingestion jobs: what is kept on disk and how start-up resumes it, the file
statuses in order, and the concurrency bound."""

from __future__ import annotations

import asyncio
import os

import pytest

from api.services.jobs import IngestionJobs
from api.services.uploads import ReadUpload
from retrievers.edge import EdgeDocumentStore
from retrievers.ingestion import file_id_for
from retrievers.jobs import JobStore
from tests.support.fakes import CountingEmbeddings


def _doc(word: str) -> bytes:
    return ("# " + word + "\n\n" + "\n\n".join(f"Le mot {word} revient au paragraphe {i}. " * 5 for i in range(4))).encode()


async def test_bytes_are_kept_until_a_file_is_final_and_the_job_finishes_with_its_last_file(tmp_path):
    async with JobStore.open(tmp_path / "jobs") as jobs:
        job = await jobs.create("p", [("a.md", b"aaa"), ("b.md", b"bbb")], owner="me", on_conflict="replace")
        assert job.status == "queued" and [f.status for f in job.files] == ["queued", "queued"]
        assert await jobs.read_bytes(job.id, 0) == b"aaa" and not list((tmp_path / "jobs" / job.id).glob("*.part"))
        await jobs.update(job.id, 0, "parsing")
        assert (await jobs.get("p", job.id)).status == "running"
        await jobs.update(job.id, 0, "indexed", file_id="f", chunks=3, outcome="created")
        assert await jobs.read_bytes(job.id, 0) is None and await jobs.read_bytes(job.id, 1) == b"bbb"
        assert (await jobs.get("p", job.id)).finished_at is None
        await jobs.update(job.id, 1, "error", error="cassé", status_code=400)
        done = await jobs.get("p", job.id)
        assert done.status == "done" and done.finished_at and not (tmp_path / "jobs" / job.id).exists()
        assert (done.files[0].chunks, done.files[1].error) == (3, "cassé")
        assert await jobs.get("other", job.id) is None
        with pytest.raises(ValueError, match="Unknown"):
            await jobs.update(job.id, 0, "indexed", project_id="x")


async def test_a_job_read_while_its_last_file_is_recorded_is_never_done_without_finished_at(tmp_path):
    """Reads and writes share one connection, which sees its own uncommitted statements: a read
    landing between a file's update and the job's finishing must wait for the commit."""
    async with JobStore.open(tmp_path / "jobs") as jobs:
        for _ in range(20):
            job = await jobs.create("p", [("a.md", b"aaa")], owner="me", on_conflict="replace")
            readers = [asyncio.create_task(jobs.get("p", job.id)) for _ in range(3)]
            await jobs.update(job.id, 0, "indexed", file_id="f", chunks=1, outcome="created")
            for seen in [*(await asyncio.gather(*readers)), await jobs.get("p", job.id)]:
                assert seen is not None and (seen.status != "done" or seen.finished_at is not None), seen


async def test_a_projects_jobs_are_listed_newest_first_by_page_and_state(tmp_path):
    async with JobStore.open(tmp_path / "jobs") as jobs:
        made = [await jobs.create("p", [(f"{i}.md", b"x")], owner="me", on_conflict="replace") for i in range(5)]
        await jobs.create("other", [("o.md", b"o")], owner="me", on_conflict="replace")
        for job in made[:2]:
            await jobs.update(job.id, 0, "indexed", file_id="f", chunks=1, outcome="created")
        listed, total = await jobs.list_jobs("p", offset=0, limit=10)
        assert total == 5 and [j.id for j in listed] == [j.id for j in reversed(made)]
        second, total = await jobs.list_jobs("p", offset=2, limit=2)
        assert total == 5 and [j.id for j in second] == [made[2].id, made[1].id]
        active, active_total = await jobs.list_jobs("p", state="active", offset=0, limit=10)
        finished, finished_total = await jobs.list_jobs("p", state="finished", offset=0, limit=10)
        assert (active_total, finished_total) == (3, 2)
        assert [j.id for j in active] == [made[4].id, made[3].id, made[2].id] and {j.status for j in active} == {"queued"}
        assert [j.id for j in finished] == [made[1].id, made[0].id] and all(j.finished_at for j in finished)
        assert finished[0].files[0].file_id == "f"
        assert await jobs.list_jobs("nobody", offset=0, limit=10) == ([], 0)


async def test_start_up_requeues_files_in_flight_and_fails_those_whose_bytes_are_gone(tmp_path):
    directory = tmp_path / "jobs"
    async with JobStore.open(directory) as jobs:
        job = await jobs.create("p", [("a.md", b"a"), ("b.md", b"b"), ("c.md", b"c")], owner=None, on_conflict="replace", worker="dead", lease_s=600)
        await jobs.update(job.id, 0, "embedding")
        await jobs.update(job.id, 1, "parsing")
        finished = await jobs.create("p", [("d.md", b"d")], owner=None, on_conflict="replace")
        await jobs.update(finished.id, 0, "indexed")
    os.remove(directory / job.id / "00001.bin")
    (directory / "0123orphan").mkdir()
    (directory / "0123orphan" / "00000.bin").write_bytes(b"x")
    async with JobStore.open(directory) as jobs:
        # A live lease is another worker's: not taken, unless this worker is the only one.
        assert (await jobs.claim_expired("me", 60)).files == []
        assert await jobs.remove_orphans() == 0 and (directory / "0123orphan").exists()
        claimed = await jobs.claim_expired("me", 60, everything=True)
        assert ([(j.id, f.position) for j, f in claimed.files], claimed.lost) == ([(job.id, 0), (job.id, 2)], 1)
        files = (await jobs.get("p", job.id)).files
        assert [f.status for f in files] == ["queued", "error", "queued"]
        assert "upload it again" in files[1].error and files[1].status_code == 500
        assert await jobs.remove_orphans(0) == 1 and not (directory / "0123orphan").exists()
        assert await jobs.prune(0) == 1 and await jobs.get("p", finished.id) is None
        assert await jobs.get("p", job.id) is not None


class _Recording(JobStore):
    def __init__(self, inner: JobStore):
        super().__init__(inner._db, inner.directory)
        self.moves: list[tuple[int, str]] = []
        self.busy = self.peak = 0

    async def update(self, job_id, position, status, **result):
        self.moves.append((position, status))
        if status == "parsing":
            self.busy += 1
            self.peak = max(self.peak, self.busy)
        elif status in ("indexed", "error") and (position, "parsing") in self.moves:
            self.busy -= 1
        await super().update(job_id, position, status, **result)


async def test_files_move_queued_parsing_embedding_indexed_within_the_concurrency_bound(settings_factory):
    settings = settings_factory("runner", ingest_concurrency=1)
    store = EdgeDocumentStore(settings, CountingEmbeddings(size=384), batch_size=2)
    try:
        async with JobStore.open(settings.data_dir / "jobs") as inner:
            jobs = _Recording(inner)
            runner = IngestionJobs(store, jobs, settings, exclusive=True)
            files = [ReadUpload(f"{w}.md", _doc(w)) for w in ("un", "deux", "trois")] + [ReadUpload("x.exe", b"MZ")]
            job = await runner.submit("p", files, owner="me", on_conflict="replace", title=None, url=None)
            await runner.idle()
            done = await runner.get("p", job.id)
        assert [f.status for f in done.files] == ["indexed", "indexed", "indexed", "error"]
        for position in range(3):
            assert [s for p, s in jobs.moves if p == position] == ["parsing", "embedding", "indexed"]
        assert jobs.peak == 1
        assert await store.get_file(project_id="p", file_id=file_id_for("p", "deux.md")) is not None
    finally:
        store.close()


_GATE: asyncio.Event | None = None


class GatedEmbeddings(CountingEmbeddings):
    """Embeds nothing until ``_GATE`` opens."""

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        assert _GATE is not None
        await _GATE.wait()
        return await super().aembed_documents(texts)


async def test_shutdown_cancels_files_in_flight_and_the_next_start_finishes_them(settings_factory):
    global _GATE
    settings = settings_factory("shutdown", ingest_concurrency=1)
    store = EdgeDocumentStore(settings, GatedEmbeddings(size=384), batch_size=1)
    gate = _GATE = asyncio.Event()
    try:
        async with IngestionJobs.running(store, settings) as runner:
            job = await runner.submit("p", [ReadUpload("lent.md", _doc("lent"))], owner=None, on_conflict="replace", title=None, url=None)
            while (await runner.get("p", job.id)).files[0].status != "embedding":
                await asyncio.sleep(0.01)
        # Closed mid-embedding: the file is still in flight on disk, and nothing of it is stored.
        assert await store.get_file(project_id="p", file_id=file_id_for("p", "lent.md")) is None
        gate.set()
        async with IngestionJobs.running(store, settings) as runner:
            await runner.idle()
            done = await runner.get("p", job.id)
        assert done.files[0].status == "indexed" and done.files[0].outcome == "created"
        assert (await store.get_file(project_id="p", file_id=file_id_for("p", "lent.md"))).chunks == done.files[0].chunks
    finally:
        store.close()


async def test_a_replica_takes_over_the_files_of_one_that_stopped_renewing_its_lease(settings_factory):
    global _GATE
    settings = settings_factory("replicas", ingest_concurrency=1, qdrant_url="http://unused:6333")
    store = EdgeDocumentStore(settings_factory("replica-store"), GatedEmbeddings(size=384), batch_size=1)
    _GATE = asyncio.Event()
    try:
        async with IngestionJobs.running(store, settings, lease_s=0.6) as first:
            job = await first.submit("p", [ReadUpload("repris.md", _doc("repris"))], owner=None, on_conflict="replace", title=None, url=None)
            while (await first.get("p", job.id)).files[0].status != "embedding":
                await asyncio.sleep(0.01)
            async with IngestionJobs.running(store, settings, lease_s=0.6) as second:
                await asyncio.sleep(1.0)
                assert not second._tasks, "a live worker's file was taken"
                # The first worker dies: its tasks stop and nobody renews its lease.
                await first.close()
                _GATE.set()
                deadline = asyncio.get_running_loop().time() + 30
                while (done := await second.get("p", job.id)).status != "done":
                    assert asyncio.get_running_loop().time() < deadline, done
                    await asyncio.sleep(0.05)
        assert done.files[0].status == "indexed"
        assert (await store.get_file(project_id="p", file_id=file_id_for("p", "repris.md"))).chunks == done.files[0].chunks
    finally:
        store.close()

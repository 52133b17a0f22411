"""The Python client against a real server: upload outcomes, on_conflict, and background jobs
(a batch answered 202 is waited for; a job can also be submitted, polled and found in the
project's listing)."""

from __future__ import annotations

import hashlib

import pytest

from routeur.client import AsyncRouteurClient, ConflictError, IngestionJob, JobPage, PermissionDeniedError, RouteurClient
from tests.support.api_support import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = ServerProcess(tmp_path_factory.mktemp("client-uploads")).start()
    yield process
    process.stop()


def _note(word: str) -> bytes:
    return f"# {word}\n\nLe mot de passe du coffre est {word}.".encode()


def test_outcomes_conflicts_and_listing_metadata(server):
    with RouteurClient(server.url) as client:
        batch = client.upload_documents("default", [("a.md", _note("azur")), ("b.md", _note("brume"))])
        assert [(f.filename, f.outcome, f.ok) for f in batch.files] == [("a.md", "created", True), ("b.md", "created", True)]
        again = client.upload_documents("default", ("a.md", _note("azur")))
        assert again.files[0].outcome == "unchanged" and again.files[0].file_id == batch.files[0].file_id
        with pytest.raises(ConflictError) as caught:
            client.upload_documents("default", ("a.md", _note("cobalt")), on_conflict="reject")
        assert caught.value.status_code == 409 and "already exists" in caught.value.message
        renamed = client.upload_documents("default", ("a.md", _note("cobalt")), on_conflict="rename").files[0]
        assert renamed.filename == "a (2).md" and renamed.file_id != batch.files[0].file_id
        replaced = client.upload_documents("default", ("a.md", _note("cobalt"))).files[0]
        assert (replaced.outcome, replaced.previous_chunks, replaced.version) == ("replaced", 1, 2)
        document = client.get_document("default", batch.files[0].file_id)
        assert (document.filename, document.version, document.size) == ("a.md", 2, len(_note("cobalt")))
        assert document.sha256 == hashlib.sha256(_note("cobalt")).hexdigest()


async def test_submit_poll_and_wait_for_a_job(server):
    async with AsyncRouteurClient(server.url) as client:
        job = await client.submit_documents("default", [("j.md", _note("jade")), ("k.exe", b"MZ")])
        assert isinstance(job, IngestionJob) and job.status == "queued" and not job.done
        done = await client.wait_for_job(job, poll_s=0.1, timeout_s=120)
        assert done.done and [f.status for f in done.files] == ["indexed", "error"] and done.files[1].status_code == 415
        assert (await client.get_job("default", job.id)).files[0].file_id == done.files[0].file_id
        hits = (await client.search("default", "jade", mode="sparse")).hits
        assert hits and hits[0].file_id == done.files[0].file_id


async def test_list_jobs_newest_first_with_a_state_filter(server):
    async with AsyncRouteurClient(server.url) as client:
        first = await client.wait_for_job(await client.submit_documents("default", ("l1.md", _note("lilas"))), poll_s=0.1, timeout_s=120)
        second = await client.wait_for_job(await client.submit_documents("default", ("l2.md", _note("lotus"))), poll_s=0.1, timeout_s=120)
        listing = await client.list_jobs("default")
        assert isinstance(listing, JobPage) and [j.id for j in listing.items[:2]] == [second.id, first.id]
        assert listing.items[0].files[0].file_id == second.files[0].file_id
        one = await client.list_jobs("default", page=2, page_size=1)
        assert [j.id for j in one.items] == [first.id] and one.total == listing.total and one.has_next == (listing.total > 2)
        assert first.id in {j.id for j in (await client.list_jobs("default", status="finished")).items}
        assert first.id not in {j.id for j in (await client.list_jobs("default", status="active")).items}
        with pytest.raises(PermissionDeniedError):
            await client.list_jobs("somebody-else")

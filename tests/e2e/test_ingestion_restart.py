"""A server killed with SIGKILL in the middle of an ingestion job: restarted, it resumes the job
to the end, and no search or listing ever sees half a file."""

from __future__ import annotations

import time

import httpx

from tests.support.api_support import ServerProcess

BIG_WORD = "hippocampe"


def _big() -> bytes:
    """About 500 chunks: long enough to embed that the kill lands mid-write."""
    return "".join(
        f"## Section {i}\n\nLe {BIG_WORD} numéro {i} vit dans le bassin {i % 17}. " + "Une phrase de remplissage utile. " * 24 + "\n\n"
        for i in range(500)
    ).encode()


def _small(word: str) -> bytes:
    return f"# {word}\n\nLe mot {word} figure dans cette note courte.".encode()


def _job(server: ServerProcess, headers: dict[str, str], job_id: str) -> dict:
    return httpx.get(f"{server.url}/projects/default/jobs/{job_id}", headers=headers, timeout=10).json()


def _listing(server: ServerProcess, headers: dict[str, str]) -> dict[str, dict]:
    items = httpx.get(f"{server.url}/projects/default/documents", headers=headers, params={"page_size": 200}, timeout=10).json()["items"]
    return {d["filename"]: d for d in items}


def test_a_job_killed_mid_file_resumes_after_restart_and_never_shows_half_a_file(tmp_path):
    env = {"ROUTEUR_INGEST_CONCURRENCY": "1", "ROUTEUR_MAX_CHUNKS_PER_FILE": "100000", "ROUTEUR_MAX_EXTRACTED_CHARS": "10000000"}
    server = ServerProcess(tmp_path, **env).start()
    try:
        headers = server.token()
        files = [("files", ("grand.md", _big())), ("files", ("loutre.md", _small("loutre"))), ("files", ("castor.md", _small("castor")))]
        accepted = httpx.post(f"{server.url}/projects/default/documents", headers=headers, files=files, timeout=60)
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["id"]
        deadline = time.monotonic() + 120
        while _job(server, headers, job_id)["files"][0]["status"] != "embedding":
            assert time.monotonic() < deadline, "the big file never reached embedding"
            time.sleep(0.1)
        time.sleep(1.5)  # some batches staged
        during = _listing(server, headers)
        assert "grand.md" not in during, "a file being written is visible"
        server.kill()

        server = ServerProcess(tmp_path, **env).start()
        headers = server.token()
        after_restart = _job(server, headers, job_id)
        assert after_restart["status"] != "done" and {f["status"] for f in after_restart["files"]} <= {"queued", "parsing", "embedding"}
        assert "grand.md" not in _listing(server, headers), "half a file survived the crash"
        deadline = time.monotonic() + 600
        while (job := _job(server, headers, job_id))["status"] != "done":
            listed = _listing(server, headers)
            assert "grand.md" not in listed or listed["grand.md"]["chunks"] == next(
                f["chunks"] for f in _job(server, headers, job_id)["files"] if f["filename"] == "grand.md"
            ), "a file being written is visible"
            assert time.monotonic() < deadline, job
            time.sleep(0.5)
        assert [f["status"] for f in job["files"]] == ["indexed", "indexed", "indexed"], job
        listed = _listing(server, headers)
        big = next(f for f in job["files"] if f["filename"] == "grand.md")
        assert big["chunks"] > 400 and listed["grand.md"]["chunks"] == big["chunks"] and listed["grand.md"]["version"] == 1
        hits = httpx.post(
            f"{server.url}/projects/default/search", headers=headers, json={"query": f"{BIG_WORD} numéro 321", "top_k": 5}, timeout=30
        ).json()["results"]
        assert hits and {h["file_id"] for h in hits} == {big["file_id"]}
        log = server.log_path.read_text()
        assert "resumed" in log
    finally:
        server.stop()

"""Uploads that say what they did and background ingestion jobs, through HTTP: created /
replaced / unchanged, each on_conflict choice, the listing's source metadata, the
synchronous-or-job rule, jobs polled until indexed, a bad file in a job, and jobs of one project
out of another's reach."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from retrievers.ingestion import file_id_for

CLIENTS = [
    {"id": "team-alpha", "secret": "alpha-secret-0123456789", "projects": ["alpha"]},
    {"id": "team-beta", "secret": "beta-secret-0123456789", "projects": ["beta"]},
]
SYNC_MAX = 4000


def _doc(word: str, paragraphs: int = 1) -> bytes:
    body = "\n\n".join(f"Paragraphe {i} : le mot de passe du projet est {word}, valable ce mois-ci. " * 4 for i in range(paragraphs))
    return f"# Note {word}\n\n{body}".encode()


@pytest.fixture(scope="module")
async def app_client(settings_factory):
    settings = settings_factory(
        "jobs", rate_limit_per_minute=100_000, clients=CLIENTS, sync_upload_max_bytes=SYNC_MAX, ingest_concurrency=2
    )
    async with AsyncTestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
async def tokens(app_client):
    out = {}
    for entry in CLIENTS:
        response = await app_client.post("/auth/token", json={"client_id": entry["id"], "client_secret": entry["secret"]})
        out[entry["projects"][0]] = {"Authorization": f"Bearer {response.json()['access_token']}"}
    return out


async def _until_done(client, headers, project: str, job_id: str, timeout: float = 120) -> dict:
    seen: set[str] = set()
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        job = (await client.get(f"/projects/{project}/jobs/{job_id}", headers=headers)).json()
        seen.update(f["status"] for f in job["files"])
        if job["status"] == "done":
            job["seen"] = seen
            return job
        assert asyncio.get_running_loop().time() < deadline, job
        await asyncio.sleep(0.05)


async def test_a_batch_is_queued_then_indexed_and_found(app_client, tokens):
    h = tokens["alpha"]
    words = ["girafe", "pelican", "tatou"]
    files = [("files", (f"{w}.md", _doc(w, paragraphs=8))) for w in words]
    response = await app_client.post("/projects/alpha/documents", headers=h, files=files)
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/projects/alpha/jobs/{job['id']}"
    assert job["status"] == "queued" and [f["status"] for f in job["files"]] == ["queued"] * 3 and job["counts"] == {"queued": 3}
    done = await _until_done(app_client, h, "alpha", job["id"])
    assert [f["status"] for f in done["files"]] == ["indexed"] * 3 and done["finished_at"] and done["counts"] == {"indexed": 3}
    for word, item in zip(words, done["files"], strict=True):
        assert item["file_id"] == file_id_for("alpha", f"{word}.md") and item["outcome"] == "created" and item["chunks"] >= 2
        assert item["sha256"] == hashlib.sha256(_doc(word, paragraphs=8)).hexdigest() and item["version"] == 1
        hits = (await app_client.post("/projects/alpha/search", headers=h, json={"query": word, "mode": "sparse"})).json()["results"]
        assert hits and hits[0]["file_id"] == item["file_id"]
    listed = (await app_client.get("/projects/alpha/documents", headers=h, params={"page_size": 200})).json()["items"]
    by_id = {d["file_id"]: d for d in listed}
    assert by_id[done["files"][0]["file_id"]]["chunks"] == done["files"][0]["chunks"]


async def test_one_bad_file_in_a_job_fails_alone_with_its_reason(app_client, tokens):
    h = tokens["alpha"]
    files = [
        ("files", ("bon.md", _doc("ornithorynque"))),
        ("files", ("setup.exe", b"MZ\x90\x00")),
        ("files", ("vide.md", b"   ")),
        ("files", ("casse.pdf", b"%PDF-1.4 not really")),
    ]
    response = await app_client.post("/projects/alpha/documents", headers=h, files=files, params={"background": "true"})
    assert response.status_code == 202
    done = await _until_done(app_client, h, "alpha", response.json()["id"])
    by_name = {f["filename"]: f for f in done["files"]}
    assert by_name["bon.md"]["status"] == "indexed"
    assert (by_name["setup.exe"]["status"], by_name["setup.exe"]["status_code"]) == ("error", 415)
    assert "Unsupported file type" in by_name["setup.exe"]["error"]
    assert (by_name["vide.md"]["status_code"], by_name["casse.pdf"]["status_code"]) == (400, 400)
    assert "No text" in by_name["vide.md"]["error"] and by_name["casse.pdf"]["error"]
    assert done["counts"] == {"indexed": 1, "error": 3}
    for name in ("setup.exe", "vide.md", "casse.pdf"):
        assert (await app_client.get(f"/projects/alpha/documents/{file_id_for('alpha', name)}", headers=h)).status_code == 404


async def test_a_background_batch_refused_whole_is_an_error_at_once(app_client, tokens):
    files = [("files", ("a.exe", b"MZ")), ("files", ("b.bin", b"\x00"))]
    too_big = [("files", ("big.md", b"# B\n\n" + b"x" * 30_000_000))]
    response = await app_client.post("/projects/alpha/documents", headers=tokens["alpha"], files=too_big)
    assert response.status_code == 413 and response.json()["status"] == "error"
    # Types are only known once parsed: such a job is accepted, and each file fails in it.
    accepted = await app_client.post("/projects/alpha/documents", headers=tokens["alpha"], files=files)
    done = await _until_done(app_client, tokens["alpha"], "alpha", accepted.json()["id"])
    assert [f["status_code"] for f in done["files"]] == [415, 415]


async def test_the_sync_rule_and_its_override(app_client, tokens):
    h = tokens["alpha"]
    small = await app_client.post("/projects/alpha/documents", headers=h, files={"file": ("petit.md", _doc("colibri"))})
    assert small.status_code == 201 and small.json()["files"][0]["outcome"] == "created"
    large = _doc("baleine", paragraphs=30)
    assert len(large) > SYNC_MAX
    queued = await app_client.post("/projects/alpha/documents", headers=h, files={"file": ("grand.md", large)})
    assert queued.status_code == 202
    forced = await app_client.post("/projects/alpha/documents", headers=h, files={"file": ("force.md", large)}, params={"background": "false"})
    assert forced.status_code == 201 and forced.json()["files"][0]["chunks"] > 1
    forced_job = await app_client.post("/projects/alpha/documents", headers=h, files={"file": ("f2.md", b"# F\n\nx")}, params={"background": "true"})
    assert forced_job.status_code == 202
    await _until_done(app_client, h, "alpha", queued.json()["id"])
    await _until_done(app_client, h, "alpha", forced_job.json()["id"])


async def test_created_replaced_unchanged_and_the_listing_metadata(app_client, tokens):
    h = tokens["alpha"]
    v1, v2 = _doc("zebre", paragraphs=3), _doc("zebu")
    first = (await app_client.post("/projects/alpha/documents", headers=h, files={"file": ("faq.md", v1)})).json()["files"][0]
    assert (first["outcome"], first["version"], first["size"]) == ("created", 1, len(v1))
    same = (await app_client.post("/projects/alpha/documents", headers=h, files={"file": ("faq.md", v1)})).json()["files"][0]
    assert (same["outcome"], same["file_id"], same["chunks"], same["version"]) == ("unchanged", first["file_id"], first["chunks"], 1)
    replaced = (await app_client.post("/projects/alpha/documents", headers=h, files={"file": ("faq.md", v2)})).json()["files"][0]
    assert (replaced["outcome"], replaced["previous_chunks"], replaced["version"]) == ("replaced", first["chunks"], 2)
    document = (await app_client.get(f"/projects/alpha/documents/{first['file_id']}", headers=h)).json()
    assert document["filename"] == "faq.md" and document["size"] == len(v2) and document["version"] == 2
    assert document["sha256"] == hashlib.sha256(v2).hexdigest() and document["chunks"] == replaced["chunks"]
    listed = (await app_client.get("/projects/alpha/documents", headers=h, params={"page_size": 200})).json()["items"]
    assert next(d for d in listed if d["file_id"] == first["file_id"]) == document


async def test_each_on_conflict_choice(app_client, tokens):
    h = tokens["alpha"]
    original, other = _doc("lama"), _doc("alpaga")
    await app_client.post("/projects/alpha/documents", headers=h, files={"file": ("conflit.md", original)})
    rejected = await app_client.post("/projects/alpha/documents", headers=h, files={"file": ("conflit.md", other)}, params={"on_conflict": "reject"})
    assert rejected.status_code == 409 and rejected.json()["status"] == "error" and "already exists" in rejected.json()["message"]
    kept = (await app_client.get(f"/projects/alpha/documents/{file_id_for('alpha', 'conflit.md')}", headers=h)).json()
    assert kept["sha256"] == hashlib.sha256(original).hexdigest()
    retried = await app_client.post("/projects/alpha/documents", headers=h, files={"file": ("conflit.md", original)}, params={"on_conflict": "reject"})
    assert retried.status_code == 201 and retried.json()["files"][0]["outcome"] == "unchanged"

    renamed = await app_client.post("/projects/alpha/documents", headers=h, files={"file": ("conflit.md", other)}, params={"on_conflict": "rename"})
    item = renamed.json()["files"][0]
    assert (item["filename"], item["file_id"], item["outcome"]) == ("conflit (2).md", file_id_for("alpha", "conflit (2).md"), "created")
    hits = (await app_client.post("/projects/alpha/search", headers=h, json={"query": "alpaga", "mode": "sparse"})).json()["results"]
    assert hits[0]["file_id"] == item["file_id"]

    replaced = await app_client.post("/projects/alpha/documents", headers=h, files={"file": ("conflit.md", other)}, params={"on_conflict": "replace"})
    assert replaced.json()["files"][0]["outcome"] == "replaced"

    # In a job, a rejected name is that file's error, with 409.
    job = await app_client.post(
        "/projects/alpha/documents", headers=h, params={"on_conflict": "reject"},
        files=[("files", ("conflit.md", original)), ("files", ("neuf.md", _doc("vigogne")))],
    )  # fmt: skip
    done = await _until_done(app_client, h, "alpha", job.json()["id"])
    assert [(f["status"], f["status_code"]) for f in done["files"]] == [("error", 409), ("indexed", 201)]
    assert done["on_conflict"] == "reject"

    bad = await app_client.post("/projects/alpha/documents", headers=h, files={"file": ("x.md", b"# X\n\nx")}, params={"on_conflict": "merge"})
    assert bad.status_code == 400 and bad.json()["status"] == "error"


async def test_names_and_jobs_are_per_project(app_client, tokens):
    same = _doc("castor")
    alpha = await app_client.post("/projects/alpha/documents", headers=tokens["alpha"], files={"file": ("commun.md", same)})
    beta = await app_client.post(
        "/projects/beta/documents", headers=tokens["beta"], files={"file": ("commun.md", _doc("marmotte"))}, params={"on_conflict": "reject"}
    )
    assert alpha.json()["files"][0]["outcome"] == beta.json()["files"][0]["outcome"] == "created"
    job = await app_client.post(
        "/projects/alpha/documents", headers=tokens["alpha"], files=[("files", ("j1.md", _doc("loutre"))), ("files", ("j2.md", _doc("vison")))]
    )
    job_id = job.json()["id"]
    # Another project's token: its own project does not hold the job; the owner's is forbidden.
    assert (await app_client.get(f"/projects/beta/jobs/{job_id}", headers=tokens["beta"])).status_code == 404
    forbidden = await app_client.get(f"/projects/alpha/jobs/{job_id}", headers=tokens["beta"])
    assert forbidden.status_code == 403 and forbidden.json()["status"] == "error"
    assert (await app_client.get("/projects/alpha/jobs/nope", headers=tokens["alpha"])).status_code == 404
    await _until_done(app_client, tokens["alpha"], "alpha", job_id)
    hits = (await app_client.post("/projects/beta/search", headers=tokens["beta"], json={"query": "loutre", "mode": "sparse"})).json()
    assert hits["results"] == []


async def test_an_upload_session_that_left_a_file_unchanged_does_not_delete_it(app_client, tokens):
    h = tokens["alpha"]
    before = (await app_client.post("/projects/alpha/documents", headers=h, files={"file": ("ancien.md", _doc("hibou"))})).json()
    session = (await app_client.post("/projects/alpha/upload-sessions", headers=h)).json()["id"]
    added = await app_client.post(f"/projects/alpha/upload-sessions/{session}", headers=h, files={"file": ("ancien.md", _doc("hibou"))})
    assert added.json()["files"][0]["outcome"] == "unchanged"
    details = (await app_client.get(f"/projects/alpha/upload-sessions/{session}", headers=h)).json()
    assert [f["status"] for f in details["files"]] == ["unchanged"] and details["documents"] == 0
    removed = (await app_client.delete(f"/projects/alpha/upload-sessions/{session}", headers=h)).json()
    assert removed["documents_deleted"] == 0
    assert (await app_client.get(f"/projects/alpha/documents/{before['files'][0]['file_id']}", headers=h)).status_code == 200


async def test_a_projects_jobs_are_listed_newest_first_and_only_to_its_tokens(app_client, tokens):
    h = tokens["alpha"]
    ids = []
    for word in ("ours", "lynx", "chamois"):
        response = await app_client.post("/projects/alpha/documents", headers=h, files={"file": (f"{word}.md", _doc(word))}, params={"background": "true"})
        ids.append(response.json()["id"])
    for job_id in ids:
        await _until_done(app_client, h, "alpha", job_id)
    beta_job = await app_client.post("/projects/beta/documents", headers=tokens["beta"], files={"file": ("x.exe", b"MZ")}, params={"background": "true"})
    assert beta_job.status_code == 202

    listing = (await app_client.get("/projects/alpha/jobs", headers=h, params={"page_size": 200})).json()
    assert listing["page"] == 1 and listing["total"] == len(listing["items"]) >= 3
    assert [j["id"] for j in listing["items"][:3]] == ids[::-1]
    newest = listing["items"][0]
    assert newest["status"] == "done" and newest["project_id"] == "alpha" and newest["files"][0]["outcome"] == "created"
    assert newest["files"][0]["file_id"] == file_id_for("alpha", "chamois.md")

    paged = (await app_client.get("/projects/alpha/jobs", headers=h, params={"page": 2, "page_size": 1})).json()
    assert (paged["total"], paged["page"], paged["page_size"]) == (listing["total"], 2, 1) and [j["id"] for j in paged["items"]] == [ids[1]]
    finished = (await app_client.get("/projects/alpha/jobs", headers=h, params={"status": "finished", "page_size": 200})).json()
    assert ids[0] in {j["id"] for j in finished["items"]} and all(j["finished_at"] for j in finished["items"])
    active = (await app_client.get("/projects/alpha/jobs", headers=h, params={"status": "active"})).json()
    assert not set(ids) & {j["id"] for j in active["items"]} and all(j["finished_at"] is None for j in active["items"])

    bad = await app_client.get("/projects/alpha/jobs", headers=h, params={"status": "stuck"})
    assert bad.status_code == 400 and bad.json()["status"] == "error"
    assert (await app_client.get("/projects/alpha/jobs", headers=h, params={"page_size": 0})).status_code == 400
    # Another project's token: its own listing never holds alpha's jobs; alpha's listing is forbidden.
    theirs = (await app_client.get("/projects/beta/jobs", headers=tokens["beta"], params={"page_size": 200})).json()
    assert beta_job.json()["id"] in {j["id"] for j in theirs["items"]} and not {j["id"] for j in theirs["items"]} & set(ids)
    assert beta_job.json()["id"] not in {j["id"] for j in listing["items"]} and all(j["project_id"] == "beta" for j in theirs["items"])
    forbidden = await app_client.get("/projects/alpha/jobs", headers=tokens["beta"])
    assert forbidden.status_code == 403 and forbidden.json()["status"] == "error"
    assert (await app_client.get("/projects/alpha/jobs")).status_code == 401

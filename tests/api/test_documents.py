"""Documents API and project isolation, through HTTP: uploads (formats, errors, batches),
listing, deletion, upload sessions, search, token scopes, and a randomized isolation test."""

from __future__ import annotations

import random

import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from retrievers.ingestion import file_id_for
from tests.support.documents import make_docx as _docx
from tests.support.documents import make_pdf as _pdf

CLIENTS = [
    {"id": "team-alpha", "secret": "alpha-secret-0123456789", "projects": ["alpha"]},
    {"id": "team-beta", "secret": "beta-secret-0123456789", "projects": ["beta"]},
    {"id": "team-both", "secret": "both-secret-0123456789", "projects": ["alpha", "beta"]},
]
TOPICS = ["serveur", "réseau", "quota", "budget", "sauvegarde", "sécurité", "archive", "planning"]


def _doc(project: str, topic: str, n: int) -> bytes:
    marker = f"{project.upper()}-{topic[:3].upper()}-{n:03d}"
    return (
        f"# {topic.capitalize()} {n}\n\nLe {topic} du projet {project} porte le code {marker}. "
        f"La procédure de {topic} est revue chaque mois par l'équipe {project}."
    ).encode()


@pytest.fixture(scope="module")
async def app_client(settings_factory):
    settings = settings_factory("documents", rate_limit_per_minute=100_000, clients=CLIENTS, max_upload_bytes=60_000)
    async with AsyncTestClient(create_app(settings)) as client:
        yield client


async def _token(client, client_id: str) -> dict[str, str]:
    secret = next(c["secret"] for c in CLIENTS if c["id"] == client_id)
    response = await client.post("/auth/token", json={"client_id": client_id, "client_secret": secret})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="module")
async def tokens(app_client):
    return {"alpha": await _token(app_client, "team-alpha"), "beta": await _token(app_client, "team-beta")}


@pytest.fixture(scope="module")
async def corpus(app_client, tokens):
    """Same topics in both projects, each chunk carrying its project's marker."""
    ids: dict[str, set[str]] = {"alpha": set(), "beta": set()}
    for project in ("alpha", "beta"):
        files = [("files", (f"{topic}-{n}.md", _doc(project, topic, n))) for topic in TOPICS for n in range(2)]
        response = await app_client.post(f"/projects/{project}/documents", headers=tokens[project], files=files, params={"background": "false"})
        assert response.status_code == 201
        ids[project] = {f["file_id"] for f in response.json()["files"]}
    assert len(ids["alpha"]) == len(ids["beta"]) == 2 * len(TOPICS)
    return ids


async def test_upload_every_format_with_title_and_url(app_client, tokens):
    h = tokens["alpha"]
    uploads = {
        "notes.txt": "Notes\nLe comité valide le budget.".encode(),
        "page.html": b"<html><head><title>Page</title></head><body><p>Le support ouvre a 9h.</p></body></html>",
        "rapport.pdf": _pdf("Le rapport annuel est pret."),
        "cr.docx": _docx("Compte rendu", "La decision est prise."),
    }
    for name, data in uploads.items():
        response = await app_client.post("/projects/alpha/documents", headers=h, files={"file": (name, data)})
        assert response.status_code == 201, response.text
        item = response.json()["files"][0]
        assert item["status"] == "ingested" and item["chunks"] >= 1 and item["file_id"] == file_id_for("alpha", name)
    titled = await app_client.post(
        "/projects/alpha/documents", headers=h, files={"file": ("guide.md", b"# G\n\nGuide.")}, data={"title": "Guide", "url": "https://x/g"}
    )
    assert titled.json()["files"][0]["title"] == "Guide" and titled.json()["files"][0]["url"] == "https://x/g"
    listed = await app_client.get("/projects/alpha/documents/" + file_id_for("alpha", "guide.md"), headers=h)
    assert listed.json()["url"] == "https://x/g" and listed.json()["chunks"] == 1


@pytest.mark.parametrize(
    ("name", "data", "status", "fragment"),
    [
        ("image.png", b"\x89PNG....", 415, "Unsupported file type"),
        ("big.md", b"# Big\n\n" + b"x" * 70_000, 413, "60000-byte limit"),
        ("empty.md", b"   ", 400, "No text"),
        ("broken.pdf", b"%PDF-1.4 not really", 400, "Cannot read"),
    ],
)
async def test_upload_errors_use_the_envelope_and_store_nothing(app_client, tokens, name, data, status, fragment):
    response = await app_client.post("/projects/alpha/documents", headers=tokens["alpha"], files={"file": (name, data)})
    assert response.status_code == status and response.json()["status"] == "error" and fragment in response.json()["message"]
    missing = await app_client.get(f"/projects/alpha/documents/{file_id_for('alpha', name)}", headers=tokens["alpha"])
    assert missing.status_code == 404


async def test_a_request_without_a_file_is_a_400(app_client, tokens):
    no_file = await app_client.post("/projects/alpha/documents", headers=tokens["alpha"], files=[("title", (None, "x"))])
    assert no_file.status_code == 400 and "No file" in no_file.json()["message"]
    not_multipart = await app_client.post("/projects/alpha/documents", headers=tokens["alpha"], data={"title": "x"})
    assert not_multipart.status_code == 400 and "multipart" in not_multipart.json()["message"]


async def test_a_bad_file_in_a_batch_keeps_the_good_ones(app_client, tokens):
    files = [("files", ("bon.md", b"# Bon\n\nLe mot magique est tournesol.")), ("files", ("mauvais.exe", b"MZ..."))]
    response = await app_client.post("/projects/alpha/documents", headers=tokens["alpha"], files=files, params={"background": "false"})
    assert response.status_code == 201
    by_name = {f["filename"]: f for f in response.json()["files"]}
    assert by_name["bon.md"]["status"] == "ingested" and by_name["mauvais.exe"]["status_code"] == 415
    found = await app_client.post("/projects/alpha/search", headers=tokens["alpha"], json={"query": "tournesol", "mode": "sparse"})
    assert found.json()["results"][0]["file_id"] == by_name["bon.md"]["file_id"]


async def test_reupload_keeps_the_file_id_and_does_not_duplicate(app_client, tokens):
    h = tokens["alpha"]
    body = b"# Doublon\n\nLe document doublon existe une seule fois."
    first = (await app_client.post("/projects/alpha/documents", headers=h, files={"file": ("doublon.md", body)})).json()["files"][0]
    again = (await app_client.post("/projects/alpha/documents", headers=h, files={"file": ("doublon.md", body)})).json()["files"][0]
    assert first["file_id"] == again["file_id"]
    hits = (await app_client.post("/projects/alpha/search", headers=h, json={"query": "document doublon", "top_k": 20})).json()["results"]
    assert sum(r["file_id"] == first["file_id"] for r in hits) == 1


async def test_list_is_paginated_and_get_delete_404(app_client, tokens, corpus):
    h = tokens["beta"]
    full = (await app_client.get("/projects/beta/documents", headers=h, params={"page_size": 200})).json()
    assert full["total"] == len(corpus["beta"]) and {d["id"] for d in full["items"]} == corpus["beta"]
    page2 = (await app_client.get("/projects/beta/documents", headers=h, params={"page": 2, "page_size": 5})).json()
    assert page2["page"] == 2 and len(page2["items"]) == 5 and page2["items"][0] == full["items"][5]
    assert set(page2["items"][0]) == {"id", "file_id", "title", "url", "chunks", "created_at", "filename", "size", "sha256", "version"}
    assert (await app_client.get("/projects/beta/documents/nope", headers=h)).status_code == 404
    assert (await app_client.delete("/projects/beta/documents/nope", headers=h)).status_code == 404
    bad_page = await app_client.get("/projects/beta/documents", headers=h, params={"page": 0})
    assert bad_page.status_code == 400 and bad_page.json()["status"] == "error"


async def test_deleting_a_document_removes_it_from_answers(app_client, tokens):
    h = tokens["alpha"]
    upload = await app_client.post(
        "/projects/alpha/documents", headers=h, files={"file": ("volcan.md", b"# Volcans\n\nLe volcan Ardent culmine a 4321 metres.")}
    )
    file_id = upload.json()["files"][0]["file_id"]
    question = {"message": "A quelle altitude culmine le volcan Ardent ?", "project_id": "alpha"}
    before = (await app_client.post("/completion", headers=h, json=question)).json()
    assert "4321" in before["response"] and file_id in {s["file_id"] for s in before["sources"]}
    deleted = await app_client.delete(f"/projects/alpha/documents/{file_id}", headers=h)
    assert deleted.status_code == 200 and deleted.json() == {"file_id": file_id, "deleted": True, "chunks": 1}
    after = (await app_client.post("/completion", headers=h, json=question)).json()
    assert "4321" not in after["response"] and file_id not in {s["file_id"] for s in after["sources"]}


async def test_upload_sessions_lifecycle(app_client, tokens):
    h = tokens["alpha"]
    opened = await app_client.post("/projects/alpha/upload-sessions", headers=h)
    assert opened.status_code == 201 and opened.json()["files"] == []
    session = opened.json()["id"]
    files = [("files", ("lot-1.md", b"# Lot\n\nLe colis numero 77 part lundi.")), ("files", ("lot-2.bin", b"\x00\x01"))]
    refused = await app_client.post(f"/projects/alpha/upload-sessions/{session}?background=true", headers=h, files=files)
    assert refused.status_code == 400 and "/projects/alpha/documents" in refused.json()["message"]
    assert (await app_client.get(f"/projects/alpha/upload-sessions/{session}", headers=h)).json()["files"] == []  # nothing taken
    added = await app_client.post(f"/projects/alpha/upload-sessions/{session}?background=false", headers=h, files=files)
    assert added.status_code == 201
    details = (await app_client.get(f"/projects/alpha/upload-sessions/{session}", headers=h)).json()
    statuses = {f["filename"]: (f["status"], f["error"]) for f in details["files"]}
    assert statuses["lot-1.md"] == ("ingested", None) and statuses["lot-2.bin"][0] == "error" and details["documents"] == 1
    # Another project's token cannot see it, even knowing its id.
    assert (await app_client.get(f"/projects/beta/upload-sessions/{session}", headers=tokens["beta"])).status_code == 404
    removed = await app_client.delete(f"/projects/alpha/upload-sessions/{session}", headers=h)
    assert removed.json() == {"id": session, "deleted": True, "documents_deleted": 1}
    assert (await app_client.get(f"/projects/alpha/upload-sessions/{session}", headers=h)).status_code == 404
    hits = (await app_client.post("/projects/alpha/search", headers=h, json={"query": "colis numero 77", "mode": "sparse"})).json()
    assert all(r["file_id"] != file_id_for("alpha", "lot-1.md") for r in hits["results"])


async def test_search_contract_and_validation(app_client, tokens, corpus):
    h = tokens["alpha"]
    for mode in ("dense", "sparse", "hybrid"):
        body = (await app_client.post("/projects/alpha/search", headers=h, json={"query": "code du budget", "mode": mode, "top_k": 3})).json()
        assert body["mode"] == mode and 1 <= body["total"] <= 3
        assert set(body["results"][0]) == {"file_id", "title", "url", "text", "score", "chunk_index"}
    one = sorted(corpus["alpha"])[0]
    only = (await app_client.post("/projects/alpha/search", headers=h, json={"query": "code", "sources": [one], "top_k": 10})).json()
    assert {r["file_id"] for r in only["results"]} == {one}
    for bad in ({"query": " "}, {"query": "x", "mode": "fuzzy"}, {"query": "x", "top_k": 0}, {"q": "x"}):
        response = await app_client.post("/projects/alpha/search", headers=h, json=bad)
        assert response.status_code == 400 and response.json()["status"] == "error"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/projects/beta/documents"),
        ("POST", "/projects/beta/search"),
        ("POST", "/projects/beta/upload-sessions"),
        ("DELETE", "/projects/beta/documents/x"),
        ("GET", "/projects/beta/documents/x"),
    ],
)
async def test_token_scopes_forbid_other_projects(app_client, tokens, method, path):
    response = await app_client.request(method, path, headers=tokens["alpha"], json={"query": "x"} if method == "POST" else None)
    assert response.status_code == 403 and response.json()["status"] == "error"


async def test_scoped_client_tokens_and_the_development_token(app_client):
    both = await _token(app_client, "team-both")
    assert (await app_client.get("/auth/verify", headers=both)).json()["user"]["projects"] == ["alpha", "beta"]
    dev = (await app_client.post("/auth/token")).json()["access_token"]
    verified = (await app_client.get("/auth/verify", headers={"Authorization": f"Bearer {dev}"})).json()
    assert verified["user"]["projects"] == ["default"]
    wrong = await app_client.post("/auth/token", json={"client_id": "team-alpha", "client_secret": "guess"})
    assert wrong.status_code == 401


async def test_randomized_isolation_over_a_thousand_queries(app_client, tokens, corpus):
    """Queries from each project's token, on purpose full of the other project's words, markers
    and file ids: no chunk or source of the other project may ever come back."""
    rng = random.Random(20261124)
    counts = {"search": 0, "completion": 0, "chat": 0}
    for i in range(1000):
        own = rng.choice(["alpha", "beta"])
        other = "beta" if own == "alpha" else "alpha"
        topic = rng.choice(TOPICS)
        query = rng.choice(
            [
                f"Quel est le code du {topic} du projet {other} ?",
                f"{other.upper()}-{topic[:3].upper()}-00{rng.randint(0, 1)}",
                f"procédure de {topic} de l'équipe {other}",
                f"{topic} {own} {other}",
            ]
        )
        sources = rng.choice([[], rng.sample(sorted(corpus[other]), 2), rng.sample(sorted(corpus[own] | corpus[other]), 4)])
        kind = ("search", "completion", "chat")[i % 3]
        counts[kind] += 1
        if kind == "search":
            body = {"query": query, "sources": sources, "top_k": 8, "mode": rng.choice(["dense", "sparse", "hybrid"])}
            response = await app_client.post(f"/projects/{own}/search", headers=tokens[own], json=body)
            assert response.status_code == 200
            returned = {r["file_id"] for r in response.json()["results"]}
            text = " ".join(r["text"] for r in response.json()["results"])
        else:
            body = {"message": query, "project_id": own, "sources": sources, "agent": rng.choice(["V1", "V2"])}
            route = "/completion" if kind == "completion" else "/api/v1/chat"
            response = await app_client.post(route, headers=tokens[own], json=body)
            assert response.status_code == 200, response.text
            payload = response.json()
            returned = {s["file_id"] for s in payload["sources"]}
            text = payload["response" if kind == "completion" else "content"]
        assert not returned & corpus[other], (kind, query, sources)
        assert f"{other.upper()}-" not in text, (kind, query, text)
        if sources and not set(sources) & corpus[own]:
            assert not returned  # only the other project's files were named: nothing to find
    assert sum(counts.values()) == 1000 and min(counts.values()) >= 333

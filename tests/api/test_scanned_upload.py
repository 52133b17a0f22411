"""A scanned PDF uploaded through the API is read by OCR and answers searches."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from tests.support.documents import make_scanned_pdf

SCAN = make_scanned_pdf((Path(__file__).parents[1] / "fixtures" / "pdf" / "guide.pdf").read_bytes())


@pytest.fixture(scope="module")
async def app_client(settings_factory):
    settings = settings_factory("scans", rate_limit_per_minute=100_000, max_upload_bytes=4 * 1024 * 1024)
    async with AsyncTestClient(create_app(settings)) as client:
        token = (await client.post("/auth/token", json={})).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


async def test_serve_says_at_start_up_whether_ocr_is_available(settings_factory, caplog):
    with caplog.at_level(logging.INFO, logger="routeur.api"):
        async with AsyncTestClient(create_app(settings_factory("scans-log", ocr_languages="fra"))):
            pass
    lines = [r.getMessage() for r in caplog.records if "OCR" in r.getMessage()]
    assert lines == ["OCR available: scanned PDF pages are read by Tesseract (fra, at most 100 pages a file)"]


async def test_a_scanned_pdf_upload_is_ingested_and_found_by_search(app_client):
    response = await app_client.post(
        "/projects/default/documents", files={"file": ("guide-scanné.pdf", SCAN)}, params={"background": "false"}
    )
    assert response.status_code == 201, response.text
    item = response.json()["files"][0]
    assert item["status"] == "ingested" and item["chunks"] >= 4 and item["title"] == "guide-scanné"
    found = (await app_client.post("/projects/default/search", json={"query": "justificatif de domicile", "mode": "sparse", "top_k": 1})).json()
    assert "Un justificatif de domicile de moins de trois mois" in found["results"][0]["text"]


async def test_a_scanned_pdf_over_the_ocr_page_cap_is_a_413_in_the_envelope(settings_factory):
    async with AsyncTestClient(create_app(settings_factory("scans-cap", ocr_max_pages=1, max_upload_bytes=4 * 1024 * 1024))) as client:
        token = (await client.post("/auth/token", json={})).json()["access_token"]
        response = await client.post(
            "/projects/default/documents", headers={"Authorization": f"Bearer {token}"}, files={"file": ("scan.pdf", SCAN)},
            params={"background": "false"},
        )
    assert response.status_code == 413 and response.json()["status"] == "error"
    assert "ROUTEUR_OCR_MAX_PAGES" in response.json()["message"]

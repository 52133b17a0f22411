"""``routeur serve`` with OCR: the start-up log says it is available, and the server keeps
answering while Tesseract reads an uploaded scan (OCR runs in a worker thread, not on the loop)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from tests.support.api_support import ServerProcess
from tests.support.documents import make_scanned_pdf

SCAN = make_scanned_pdf((Path(__file__).parents[1] / "fixtures" / "pdf" / "guide.pdf").read_bytes())


async def _upload_while_polling_health(server: ServerProcess) -> tuple[httpx.Response, float, int]:
    """The upload's response, the slowest /health answer during it, and how many answered."""
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
        upload = asyncio.create_task(
            client.post(
                "/projects/default/documents",
                headers=server.token(),
                files={"file": ("scan.pdf", SCAN)},
                params={"background": "false"},
            )
        )
        slowest, answered = 0.0, 0
        await asyncio.sleep(0.3)  # the upload is being read
        while not upload.done():
            started = time.perf_counter()
            assert (await client.get("/health")).status_code == 200
            slowest, answered = max(slowest, time.perf_counter() - started), answered + 1
            await asyncio.sleep(0.05)
        return await upload, slowest, answered


def test_serve_logs_ocr_and_answers_while_a_scan_is_read(tmp_path):
    server = ServerProcess(tmp_path).start()
    try:
        response, slowest, answered = asyncio.run(_upload_while_polling_health(server))
    finally:
        server.stop()
    assert response.status_code == 201, response.text
    assert response.json()["files"][0]["chunks"] >= 4
    assert answered >= 10, "the upload finished too soon to tell"
    assert slowest < 1.0, f"/health waited {slowest:.1f} s while Tesseract read the scan"
    log = server.log_path.read_text()
    assert log.count("OCR available: scanned PDF pages are read by Tesseract (fra+eng, at most 100 pages a file)") == 1

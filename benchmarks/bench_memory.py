"""Resident memory of one server process: idle (after start-up, model loaded), then after
10,000 chunks were ingested through the upload API, then after 200 answered questions.

    python -m benchmarks.bench_memory [--chunks 10000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.common import QUESTION, VOCABULARY, print_table, synthetic_text
from tests.support.api_support import ServerProcess

CHUNKS_PER_FILE = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=10_000)
    args = parser.parse_args()
    rng = random.Random(11)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    server = ServerProcess(data_dir, ROUTEUR_RATE_LIMIT_PER_MINUTE="100000000").start()
    rows = []
    try:
        headers = server.token()
        with httpx.Client(base_url=server.url, headers=headers, timeout=600) as client:
            rss = lambda: client.get("/health/stats").json()["rss_bytes"] / 2**20  # noqa: E731
            rows.append(["idle after start-up", f"{rss():.0f}"])
            started = time.perf_counter()
            ingested = 0
            index = 0
            while ingested < args.chunks:
                body = "\n\n".join(synthetic_text(rng, 120) for _ in range(CHUNKS_PER_FILE))
                response = client.post("/projects/default/documents", files={"file": (f"synthetic-{index}.txt", body.encode())})
                ingested += response.json()["files"][0]["chunks"]
                index += 1
            seconds = time.perf_counter() - started
            rows.append([f"after {ingested:,} chunks ingested ({ingested / seconds:.0f} chunks/s over HTTP)", f"{rss():.0f}"])
            for _ in range(200):
                client.post("/completion", json={"message": f"{QUESTION} {rng.choice(VOCABULARY)}"})
            rows.append(["after 200 answers more", f"{rss():.0f}"])
    finally:
        server.stop()
    print_table("Server resident memory (MB)", ["state", "RSS MB"], rows)


if __name__ == "__main__":
    main()

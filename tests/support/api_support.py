"""Helpers for API tests: a data dir with the demo corpus, an app client, a real server process."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Self

import httpx

from routeur.settings import Settings

ROOT = Path(__file__).resolve().parent.parent.parent


async def ingest_demo(settings: Settings, project_id: str = "default") -> None:
    """Ingest the demo corpus into ``settings``' store, then release the path for the server."""
    from retrievers import build_store
    from retrievers.ingestion import ingest_paths

    store = await asyncio.to_thread(build_store, settings)
    try:
        await ingest_paths(store, [ROOT / "demo" / "corpus"], project_id=project_id, progress=False)
    finally:
        store.close()


async def start_demo_server(settings: Settings, models: list[dict[str, Any]], **env: str) -> ServerProcess:
    """``routeur serve`` on ``settings``' data dir, the demo corpus ingested, ``models`` declared
    in its extra-models file."""
    await ingest_demo(settings)
    models_file = settings.data_dir / "models.json"
    models_file.write_text(json.dumps(models))
    return ServerProcess(settings.data_dir, ROUTEUR_EXTRA_MODELS_FILE=str(models_file), **env).start()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sse_events(body: str) -> list[tuple[str | None, Any]]:
    """Parse a whole SSE body as a client would: (event name or None, decoded data)."""
    out: list[tuple[str | None, Any]] = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        if data:
            out.append((name, json.loads("\n".join(data))))
    return out


class _Process:
    """A server in its own process, on a free port, started and awaited until ``ready_path`` answers."""

    name = "server"
    ready_path = "/health"

    def __init__(self, data_dir: Path, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "ROUTEUR_DATA_DIR": str(data_dir), "LANGSMITH_TRACING": "false", **env}
        self.log_path = data_dir / f"{self.name}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> Self:
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(self.command(), cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n" + self.log_path.read_text()[-3000:])
            try:
                if httpx.get(f"{self.url}{self.ready_path}", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.3)
        raise RuntimeError(f"{self.name} did not start:\n" + self.log_path.read_text()[-3000:])

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown code runs."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=20)
            self.log.close()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.log.close()
            self.process = None


class ServerProcess(_Process):
    """``routeur serve``."""

    def command(self) -> list[str]:
        return [str(Path(sys.executable).parent / "routeur"), "serve", "--port", str(self.port)]

    def token(self) -> dict[str, str]:
        token = httpx.post(f"{self.url}/auth/token", timeout=10).json()["access_token"]
        return {"Authorization": f"Bearer {token}"}


class LanggraphDevProcess(_Process):
    """``langgraph dev`` (LangGraph's own server), offline, serving langgraph.json."""

    name = "langgraph-dev"
    ready_path = "/ok"

    def __init__(self, data_dir: Path, n_jobs_per_worker: int = 4, **env: str):
        super().__init__(data_dir, LANGGRAPH_CLI_NO_ANALYTICS="1", LANGGRAPH_NO_VERSION_CHECK="true", **env)
        self.n_jobs = n_jobs_per_worker

    def command(self) -> list[str]:
        return [
            str(Path(sys.executable).parent / "langgraph"), "dev",
            "--config", str(ROOT / "langgraph.json"),
            "--port", str(self.port), "--host", "127.0.0.1",
            "--no-browser", "--no-reload", "--n-jobs-per-worker", str(self.n_jobs),
        ]  # fmt: skip

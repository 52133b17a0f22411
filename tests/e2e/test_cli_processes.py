"""The ``routeur`` command as a user runs it: a configuration mistake stops ``routeur serve`` with
the file, the entry and the field named; a store held by a running server is one line, not a
traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.api_support import ROOT, ServerProcess, free_port

ROUTEUR = str(Path(sys.executable).parent / "routeur")


def _run(*args: str, data_dir: Path, timeout: float = 180, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "ROUTEUR_DATA_DIR": str(data_dir), "LANGSMITH_TRACING": "false", **env}
    return subprocess.run([ROUTEUR, *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout)


def test_serve_refuses_to_start_on_a_models_file_typo_naming_file_entry_and_field(tmp_path):
    models = tmp_path / "models.json"
    models.write_text(json.dumps([{"name": "house", "base_url": "http://127.0.0.1:9/v1", "remote_nam": "org/llm"}]))
    done = _run("serve", "--port", str(free_port()), data_dir=tmp_path, timeout=120, ROUTEUR_EXTRA_MODELS_FILE=str(models))
    assert done.returncode == 2
    assert f"ROUTEUR_EXTRA_MODELS_FILE ({models}): entry 0 ('house'): field 'remote_nam': unknown field (did you mean 'remote_name'?)" in done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


def test_serve_refuses_to_start_on_a_clients_typo(tmp_path):
    clients = json.dumps([{"id": "batch", "secret": "batch-secret-0123456789", "projects": ["p"], "rate_limit_per_minut": 100}])
    done = _run("serve", "--port", str(free_port()), data_dir=tmp_path, timeout=120, ROUTEUR_CLIENTS=clients)
    assert done.returncode == 2
    assert "ROUTEUR_CLIENTS: entry 0, field 'rate_limit_per_minut': unknown field" in done.stderr and "Traceback" not in done.stderr


def test_ask_and_ingest_while_the_server_holds_the_store_say_who_holds_it_in_one_line(tmp_path):
    server = ServerProcess(tmp_path).start()
    try:
        note = tmp_path / "note.md"
        note.write_text("# Note\n\nUn paragraphe.\n")
        for args in (["ask", "Sur quel port ?"], ["ingest", str(note)]):
            done = _run(*args, data_dir=tmp_path)
            assert done.returncode == 3, done.stderr
            lines = [line for line in done.stderr.splitlines() if line.strip() and "%|" not in line]
            assert len(lines) == 1, done.stderr
            assert f"is held by routeur serve (pid {server.process.pid})" in lines[0]
            assert "Stop it first" in lines[0] and "ROUTEUR_QDRANT_URL" in lines[0] and "Traceback" not in done.stderr
            assert ("routeur ask --server http://127.0.0.1:7860" in lines[0]) == (args[0] == "ask")
        # The running server answers the same question.
        asked = _run("ask", "Sur quel port le serveur écoute-t-il ?", "--server", server.url, "--agent", "V1", data_dir=tmp_path)
        assert asked.returncode == 0, asked.stderr
        assert asked.stdout.strip() and "[generation complete]" in asked.stderr and "Traceback" not in asked.stderr
    finally:
        server.stop()


def test_serve_keeps_an_idle_connection_longer_than_its_clients_do(tmp_path):
    """A client's pool (httpx: 5 s) must drop an idle connection before the server closes it,
    or a request sent as the server closes its end fails: the server keeps it ``ROUTEUR_KEEP_ALIVE_S``."""
    import http.client
    import time

    server = ServerProcess(tmp_path, ROUTEUR_KEEP_ALIVE_S="9").start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("GET", "/health")
        assert connection.getresponse().read() and connection.sock is not None
        first = connection.sock
        time.sleep(6)  # past uvicorn's default keep-alive (5 s), the httpx pool's own expiry
        connection.request("GET", "/health")
        response = connection.getresponse()
        assert response.status == 200 and response.read()
        assert connection.sock is first  # the same connection, still open
        time.sleep(4)  # past the 9 s asked for: the server closes it
        assert first.recv(1) == b""
        connection.close()
    finally:
        server.stop()

"""A local fake of the LangSmith REST API, for tests: real HTTP, in-process records.

Implements what langsmith 0.15's ``Client`` calls to create/read datasets and examples, to
run ``langsmith.aevaluate`` / ``langsmith.evaluate`` with upload, and to ingest traces:

- ``GET /info``: a server info with multipart ingestion on (zstd compression on or off,
  see ``zstd``) and the multipart example upload off (so examples go to ``/examples/bulk``);
- ``POST /datasets`` (409 on a duplicate name), ``GET /datasets`` (``?name=``, ``?id=``),
  ``GET /datasets/{id}``;
- ``POST /examples/bulk`` (409 on a duplicate example id), ``POST /examples``,
  ``GET /examples`` (``?dataset=``, ``?id=``, ``offset``/``limit``), ``GET /examples/{id}``;
- ``POST /sessions`` (409 on a duplicate name), ``GET /sessions`` (``?name=``),
  ``GET /sessions/{id}``, ``PATCH /sessions/{id}``;
- ``POST /runs/multipart`` (plain or ``Content-Encoding: zstd``), ``POST /runs/batch``,
  ``POST /runs``, ``PATCH /runs/{id}``;
- ``POST /feedback`` (and ``feedback.*`` parts of a multipart ingest).

Everything received is recorded in plain structures on the ``LangSmithStub`` object:
``datasets``, ``examples``, ``sessions``, ``runs`` (merged post+patch, by id), ``feedback``,
``requests`` (method, path, status) and ``unknown`` (routes this stub does not implement:
answered 404 for GET/DELETE, 200 ``{}`` otherwise). The server runs with uvicorn in a
daemon thread on a free 127.0.0.1 port; use it as a context manager.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import uvicorn

TENANT_ID = "00000000-0000-4000-8000-000000000001"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class _HTTPError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _parse_multipart(body: bytes, content_type: str) -> list[tuple[str, bytes]]:
    """(field name, raw bytes) for each part of a multipart/form-data body."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise _HTTPError(422, "multipart body without boundary")
    delimiter = b"--" + match.group(1).encode()
    parts: list[tuple[str, bytes]] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):  # closing delimiter
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk
        head, _, content = chunk.partition(b"\r\n\r\n")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        name_match = re.search(rb'name="([^"]*)"', head)
        if name_match:
            parts.append((name_match.group(1).decode(), content))
    return parts


class LangSmithStub:
    """Fake LangSmith API in a background thread; records what the client sends."""

    def __init__(self, *, zstd: bool = True, multipart: bool = True, api_key: str | None = None) -> None:
        """``zstd``: advertise ``zstd_compression_enabled`` (the client then sends compressed
        multipart when ``zstandard`` is installed); ``multipart``: advertise
        ``use_multipart_endpoint`` (False makes the client use ``/runs/batch``, and POST
        feedback directly); ``api_key``: when set, requests without this ``x-api-key`` get 401.
        """
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port: int = sock.getsockname()[1]
        self.zstd = zstd
        self.multipart = multipart
        self.required_api_key = api_key
        self._lock = threading.Lock()
        self.datasets: dict[str, dict[str, Any]] = {}
        self.examples: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.feedback: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, int]] = []
        self.unknown: list[tuple[str, str]] = []
        self.api_keys_seen: set[str] = set()
        config = uvicorn.Config(self._app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off", interface="asgi3")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="langsmith-stub", daemon=True)

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """The value for ``LANGSMITH_ENDPOINT`` / ``Client(api_url=...)``."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LangSmithStub:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("langsmith stub did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)

    # ------------------------------------------------------------------ helpers for tests

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02) -> bool:
        """Poll ``predicate`` (under the record lock) until true; False after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if predicate():
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(interval)

    def session_by_name(self, name: str) -> dict[str, Any] | None:
        return next((s for s in self.sessions.values() if s["name"] == name), None)

    def runs_in_session(self, session_id: str) -> list[dict[str, Any]]:
        return [r for r in self.runs.values() if r.get("session_id") == session_id]

    def info_payload(self) -> dict[str, Any]:
        return {
            "version": "0.12.0",
            "license_expiration_time": None,
            "batch_ingest_config": {
                "use_multipart_endpoint": self.multipart,
                "scale_up_qsize_trigger": 1000,
                "scale_up_nthreads_limit": 16,
                "scale_down_nempty_trigger": 4,
                "size_limit": 100,
                "size_limit_bytes": 20_971_520,
            },
            "instance_flags": {
                "zstd_compression_enabled": self.zstd,
                "dataset_examples_multipart_enabled": False,
            },
        }

    # ------------------------------------------------------------------ ASGI

    async def _app(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        method = scope["method"]
        path = scope["path"].rstrip("/") or "/"
        query = parse_qs(scope.get("query_string", b"").decode())
        try:
            with self._lock:
                status, payload = self._handle(method, path, query, headers, body)
        except _HTTPError as exc:
            status, payload = exc.status, {"detail": exc.detail}
        except Exception as exc:  # a stub bug must show up as a 500, not a hang
            status, payload = 500, {"detail": repr(exc)}
        with self._lock:
            self.requests.append((method, path, status))
        data = json.dumps(payload, default=str).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": data})

    def _handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        if "x-api-key" in headers:
            self.api_keys_seen.add(headers["x-api-key"])
        if self.required_api_key is not None and headers.get("x-api-key") != self.required_api_key:
            raise _HTTPError(401, "invalid api key")
        if path.startswith("/api/v1"):  # tolerate an api_url ending in /api/v1
            path = path[len("/api/v1") :] or "/"
        segments = [s for s in path.split("/") if s]
        route = (method, segments[0] if segments else "", len(segments))

        if route == ("GET", "info", 1):
            return 200, self.info_payload()
        if segments and segments[0] == "datasets":
            return self._datasets(method, segments, query, body)
        if segments and segments[0] == "examples":
            return self._examples(method, segments, query, body)
        if segments and segments[0] == "sessions":
            return self._sessions(method, segments, query, body)
        if segments and segments[0] == "runs":
            result = self._runs(method, segments, headers, body)
            if result is not None:
                return result
        if route == ("POST", "feedback", 1):
            self._record_feedback(json.loads(body))
            return 200, {}
        self.unknown.append((method, path))
        return (404, {"detail": "Not found"}) if method in ("GET", "DELETE") else (200, {})

    # ------------------------------------------------------------------ datasets & examples

    def _dataset_out(self, dataset: dict[str, Any]) -> dict[str, Any]:
        count = sum(1 for e in self.examples.values() if e["dataset_id"] == dataset["id"])
        return {**dataset, "example_count": count}

    def _datasets(self, method: str, segments: list[str], query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        if method == "POST" and len(segments) == 1:
            data = json.loads(body)
            if any(d["name"] == data["name"] for d in self.datasets.values()):
                raise _HTTPError(409, f"Dataset {data['name']} already exists")
            dataset_id = str(data.get("id") or uuid.uuid4())
            dataset = {
                "id": dataset_id,
                "name": data["name"],
                "description": data.get("description"),
                "data_type": data.get("data_type", "kv"),
                "metadata": data.get("extra", {}).get("metadata") if data.get("extra") else data.get("metadata"),
                "created_at": _now(),
                "modified_at": _now(),
                "session_count": 0,
                "tenant_id": TENANT_ID,
            }
            self.datasets[dataset_id] = dataset
            return 200, self._dataset_out(dataset)
        if method == "GET" and len(segments) == 1:
            found = list(self.datasets.values())
            if "name" in query:
                found = [d for d in found if d["name"] == query["name"][0]]
            if "id" in query:
                found = [d for d in found if d["id"] in query["id"]]
            if "name_contains" in query:
                found = [d for d in found if query["name_contains"][0] in d["name"]]
            offset = int(query.get("offset", ["0"])[0])
            limit = int(query.get("limit", ["100"])[0])
            return 200, [self._dataset_out(d) for d in found[offset : offset + limit]]
        if method == "GET" and len(segments) == 2:
            if segments[1] not in self.datasets:
                raise _HTTPError(404, "Dataset not found")
            return 200, self._dataset_out(self.datasets[segments[1]])
        self.unknown.append((method, "/" + "/".join(segments)))
        return (404, {"detail": "Not found"}) if method == "GET" else (200, {})

    def _add_example(self, data: dict[str, Any]) -> dict[str, Any]:
        dataset_id = str(data["dataset_id"])
        if dataset_id not in self.datasets:
            raise _HTTPError(404, f"Dataset {dataset_id} not found")
        example_id = str(data.get("id") or uuid.uuid4())
        if example_id in self.examples:
            raise _HTTPError(409, f"Example {example_id} already exists")
        metadata = dict(data.get("metadata") or {})
        split = data.get("split")
        if split:
            metadata["dataset_split"] = [split] if isinstance(split, str) else list(split)
        example = {
            "id": example_id,
            "dataset_id": dataset_id,
            "inputs": data.get("inputs") or {},
            "outputs": data.get("outputs", data.get("reference_outputs")),
            "metadata": metadata or None,
            "created_at": data.get("created_at") or _now(),
            "modified_at": _now(),
            "source_run_id": data.get("source_run_id"),
        }
        self.examples[example_id] = example
        self.datasets[dataset_id]["modified_at"] = _now()
        return example

    def _examples(self, method: str, segments: list[str], query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        if method == "POST" and segments == ["examples", "bulk"]:
            items = json.loads(body)
            ids = [str(item.get("id")) for item in items if item.get("id")]
            duplicates = [i for i in ids if i in self.examples] + [i for i in set(ids) if ids.count(i) > 1]
            if duplicates:  # all-or-nothing, like a database transaction
                raise _HTTPError(409, f"Examples already exist: {sorted(set(duplicates))}")
            return 200, [self._add_example(item) for item in items]
        if method == "POST" and len(segments) == 1:
            return 200, self._add_example(json.loads(body))
        if method == "GET" and len(segments) == 1:
            found = list(self.examples.values())
            if "dataset" in query:
                found = [e for e in found if e["dataset_id"] == query["dataset"][0]]
            if "id" in query:
                found = [e for e in found if e["id"] in query["id"]]
            offset = int(query.get("offset", ["0"])[0])
            limit = int(query.get("limit", ["100"])[0])
            return 200, found[offset : offset + limit]
        if method == "GET" and len(segments) == 2 and segments[1] in self.examples:
            return 200, self.examples[segments[1]]
        self.unknown.append((method, "/" + "/".join(segments)))
        return (404, {"detail": "Not found"}) if method == "GET" else (200, {})

    # ------------------------------------------------------------------ sessions (projects / experiments)

    def _new_session(self, name: str, **fields: Any) -> dict[str, Any]:
        session_id = str(fields.pop("id", None) or uuid.uuid4())
        session = {
            "id": session_id,
            "name": name,
            "tenant_id": TENANT_ID,
            "start_time": fields.pop("start_time", None) or _now(),
            "end_time": None,
            "description": None,
            "reference_dataset_id": None,
            "extra": None,
            "implicit": False,
            "create_body": None,
            "updates": [],
        }
        session.update(fields)
        self.sessions[session_id] = session
        return session

    def _session_out(self, session: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in session.items() if k not in ("implicit", "create_body", "updates")}

    def _sessions(self, method: str, segments: list[str], query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        if method == "POST" and len(segments) == 1:
            data = json.loads(body)
            existing = self.session_by_name(data["name"])
            if existing is not None:
                if query.get("upsert", ["false"])[0].lower() == "true" or existing["implicit"]:
                    existing.update({k: v for k, v in data.items() if k in ("description", "extra", "reference_dataset_id")})
                    existing["implicit"] = False
                    return 200, self._session_out(existing)
                raise _HTTPError(409, f"Session {data['name']} already exists")
            session = self._new_session(
                data["name"],
                id=data.get("id"),
                start_time=data.get("start_time"),
                description=data.get("description"),
                reference_dataset_id=data.get("reference_dataset_id"),
                extra=data.get("extra"),
                create_body=data,
            )
            return 200, self._session_out(session)
        if method == "GET" and len(segments) == 1:
            found = list(self.sessions.values())
            if "name" in query:
                found = [s for s in found if s["name"] == query["name"][0]]
            if "reference_dataset" in query:
                found = [s for s in found if s["reference_dataset_id"] in query["reference_dataset"]]
            limit = int(query.get("limit", ["100"])[0])
            offset = int(query.get("offset", ["0"])[0])
            return 200, [self._session_out(s) for s in found[offset : offset + limit]]
        if len(segments) == 2 and segments[1] in self.sessions:
            session = self.sessions[segments[1]]
            if method == "GET":
                return 200, self._session_out(session)
            if method == "PATCH":
                data = json.loads(body)
                session["updates"].append(data)
                for key in ("name", "description", "end_time", "extra"):
                    if data.get(key) is not None:  # the client sends every field, None for "unchanged"
                        session[key] = data[key]
                return 200, self._session_out(session)
        self.unknown.append((method, "/" + "/".join(segments)))
        return (404, {"detail": "Not found"}) if method == "GET" else (200, {})

    # ------------------------------------------------------------------ runs & feedback

    def _record_run(self, op: str, data: dict[str, Any]) -> None:
        run_id = str(data["id"])
        run = self.runs.setdefault(run_id, {"id": run_id, "ops": []})
        run["ops"].append(op)
        for key, value in data.items():
            if key == "id":
                continue
            run[key] = str(value) if key in ("parent_run_id", "trace_id", "session_id", "reference_example_id") and value else value
        session_name = run.get("session_name")
        if not run.get("session_id") and session_name:
            session = self.session_by_name(session_name) or self._new_session(session_name, implicit=True)
            run["session_id"] = session["id"]
        if run.get("session_id") and not run.get("session_name") and run["session_id"] in self.sessions:
            run["session_name"] = self.sessions[run["session_id"]]["name"]

    def _record_feedback(self, data: dict[str, Any]) -> None:
        source = data.get("feedback_source") or {}
        source_run = ((source.get("metadata") or {}).get("__run") or {}).get("run_id")
        self.feedback.append(
            {
                "id": data.get("id"),
                "run_id": data.get("run_id"),
                "trace_id": data.get("trace_id"),
                "session_id": data.get("session_id"),
                "key": data.get("key"),
                "score": data.get("score"),
                "value": data.get("value"),
                "comment": data.get("comment"),
                "source_run_id": source_run,
                "raw": data,
            }
        )

    def _runs(self, method: str, segments: list[str], headers: dict[str, str], body: bytes) -> tuple[int, Any] | None:
        if method == "POST" and segments == ["runs", "multipart"]:
            if headers.get("content-encoding", "").lower() == "zstd":
                import zstandard

                reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body), read_across_frames=True)
                body = reader.read()
            self._ingest_multipart(_parse_multipart(body, headers.get("content-type", "")))
            return 202, {}
        if method == "POST" and segments == ["runs", "batch"]:
            data = json.loads(body)
            for op in ("post", "patch"):
                for run in data.get(op) or []:
                    self._record_run(op, run)
            return 202, {}
        if method == "POST" and len(segments) == 1:
            self._record_run("post", json.loads(body))
            return 202, {}
        if method == "PATCH" and len(segments) == 2:
            self._record_run("patch", {**json.loads(body), "id": segments[1]})
            return 202, {}
        return None

    def _ingest_multipart(self, parts: list[tuple[str, bytes]]) -> None:
        pending: dict[tuple[str, str], dict[str, Any]] = {}
        order: list[tuple[str, str]] = []
        for name, content in parts:
            pieces = name.split(".")
            kind = pieces[0]
            if kind == "feedback":
                self._record_feedback(json.loads(content))
                continue
            if kind == "attachment" or kind not in ("post", "patch"):
                continue
            key = (kind, pieces[1])
            if key not in pending:
                pending[key] = {"id": pieces[1]}
                order.append(key)
            if len(pieces) == 2:
                pending[key].update(json.loads(content))
            else:
                pending[key][pieces[2]] = json.loads(content)
        for key in order:
            self._record_run(key[0], pending[key])

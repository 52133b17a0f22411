"""Shared fixtures: real stores on temporary paths, the local embedding model loaded once.

Retrieval is never faked: the stores are embedded Qdrant on disk with the real MiniLM model, so
tests see the filters, scores and locking that production sees.
"""

from __future__ import annotations

import os

import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("LANGSMITH_TRACING", "false")
# The query encoder and the answerer's word vectors are exported once for the whole run (servers
# the tests start inherit this), not once per temporary data dir.
os.environ.setdefault("ROUTEUR_EMBEDDINGS_ONNX_DIR", str(Path(tempfile.gettempdir()) / "routeur-tests-onnx"))
os.environ.setdefault("ROUTEUR_WORD_VECTORS_DIR", str(Path(tempfile.gettempdir()) / "routeur-tests-word-vectors"))

import pytest

from routeur.settings import Settings

_TESTS = Path(__file__).parent
LAYERS = ("unit", "api", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test gets its layer's marker from its directory, so ``pytest -m unit`` runs the fast layer."""
    for item in items:
        try:
            layer = Path(item.path).relative_to(_TESTS).parts[0]
        except ValueError:
            continue
        if layer in LAYERS:
            item.add_marker(getattr(pytest.mark, layer))


@pytest.fixture(scope="session")
def embeddings():
    """The local MiniLM model, loaded once per session (it is a process-wide singleton), its
    queries on ONNX Runtime as in production."""
    from retrievers.embeddings import LocalEmbeddings

    model = LocalEmbeddings(onnx_dir=Path(os.environ["ROUTEUR_EMBEDDINGS_ONNX_DIR"]))
    model.embed_query("warm-up")
    return model


@pytest.fixture(scope="session")
def settings_factory(tmp_path_factory):
    """Settings on a fresh data dir; the real defaults otherwise (local model, embedded Qdrant)."""

    def make(name: str = "data", **overrides) -> Settings:
        return Settings(_env_file=None, data_dir=tmp_path_factory.mktemp(name), **overrides)

    return make


@pytest.fixture(scope="session")
def store_factory(settings_factory, embeddings):
    """Embedded Qdrant stores on their own paths, closed at the end of the session."""
    from retrievers import build_store

    stores = []

    def make(name: str = "store", **overrides):
        store = build_store(settings_factory(name, **overrides))
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture(scope="module")
def stub():
    """The local OpenAI-compatible provider (tests/support/openai_stub.py), one per test module."""
    from tests.support.openai_stub import StubServer

    with StubServer() as server:
        yield server


@pytest.fixture
def store(settings_factory, embeddings):
    """A fresh embedded store on its own path, closed after the test."""
    from retrievers.qdrant import QdrantDocumentStore

    store = QdrantDocumentStore(settings_factory("store"), embeddings)
    yield store
    store.close()


@pytest.fixture
def clean_langsmith_env(monkeypatch):
    """No LANGSMITH_* / LANGCHAIN_* variables, and langsmith's cached view of the environment
    emptied both ways (it caches what it read, so a variable set or removed later is not seen)."""
    import langsmith.utils

    def clear() -> None:
        langsmith.utils.get_env_var.cache_clear()
        langsmith.utils.get_tracer_project.cache_clear()

    for name in list(os.environ):
        if name.startswith(("LANGSMITH_", "LANGCHAIN_")):
            monkeypatch.delenv(name)
    clear()
    yield
    clear()


@pytest.fixture
def connections(monkeypatch):
    """Every outgoing connection attempt and name lookup of this process, in order (they still
    happen): proof that code made no network attempt, or only to the addresses expected."""
    import socket

    attempts: list[tuple[str, object]] = []
    real_connect, real_connect_ex, real_getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def connect(self, address):
        attempts.append(("connect", address))
        return real_connect(self, address)

    def connect_ex(self, address):
        attempts.append(("connect", address))
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        attempts.append(("getaddrinfo", host))
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts

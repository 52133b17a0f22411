"""Shared fixtures: real stores on temporary paths, the local embedding model loaded once."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LANGSMITH_TRACING", "false")

import pytest

from routeur.settings import Settings


@pytest.fixture(scope="session")
def settings_factory(tmp_path_factory):
    """Settings on a fresh data dir; the real defaults otherwise (local model, embedded Qdrant)."""

    def make(name: str = "data", **overrides) -> Settings:
        return Settings(_env_file=None, data_dir=tmp_path_factory.mktemp(name), **overrides)

    return make


@pytest.fixture(scope="session")
def store_factory(settings_factory):
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

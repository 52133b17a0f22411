"""What a run needs besides its per-request context: the settings, the document store and the
model registry built from those settings — one typed object, passed with every run.

Why ``config["configurable"]`` and not LangGraph's runtime context: ``context_schema``
(``AgentContext``) is what Studio and ``langgraph dev`` show and send as JSON, so every field
there must be a plain, serialisable knob; a store or a model registry is a live process object.
LangGraph hands ``configurable`` to the nodes untouched and never checkpoints it, so the
dependencies travel there, under one key, read through ``dependencies_from`` — never a bare
string lookup elsewhere.

The one fallback: a run that brings no dependencies (``langgraph dev``, which builds the run's
config itself; the CLI) uses ``process_defaults()``, built once from ``get_settings()``.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nodes.models.factory import ModelRegistry
from retrievers.base import DocumentStore
from routeur.settings import Settings, get_settings

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

DEPENDENCIES_KEY = "routeur_dependencies"
"""The ``configurable`` key that carries a run's ``RunDependencies``."""


@dataclass(frozen=True)
class RunDependencies:
    settings: Settings
    store: DocumentStore
    models: ModelRegistry

    @classmethod
    def from_settings(cls, settings: Settings, store: DocumentStore | None = None, models: ModelRegistry | None = None) -> RunDependencies:
        """Everything built from ``settings`` (opening the store and reading the offline answerer's
        word vectors do file I/O, a first export runs a child process: not on a loop)."""
        if store is None:
            from retrievers import build_store

            store = build_store(settings)
        models = models if models is not None else ModelRegistry(settings)
        if models.is_offline(settings.default_model):
            models.word_vectors  # noqa: B018 - read now, not inside the first run's event loop
        return cls(settings=settings, store=store, models=models)

    def configurable(self) -> dict[str, Any]:
        """The ``configurable`` entry that hands these dependencies to a run."""
        return {DEPENDENCIES_KEY: self}


def dependencies_from(config: RunnableConfig | None) -> RunDependencies | None:
    """The dependencies a caller put in a run's config, if any."""
    found = ((config or {}).get("configurable") or {}).get(DEPENDENCIES_KEY)
    return found if isinstance(found, RunDependencies) else None


_defaults: RunDependencies | None = None
_lock = threading.Lock()


def process_defaults() -> RunDependencies:
    """The process's dependencies from ``get_settings()``, built once (a local store path can be
    opened only once, so threads asking together share one). For ``langgraph dev`` and the CLI."""
    global _defaults
    with _lock:
        if _defaults is None:
            _defaults = RunDependencies.from_settings(get_settings())
        return _defaults


def close_process_defaults() -> None:
    """Close the process store, if it was opened (CLI exit)."""
    global _defaults
    with _lock:
        if _defaults is not None:
            _defaults.store.close()
            _defaults = None


async def run_dependencies(config: RunnableConfig | None) -> RunDependencies:
    """The run's dependencies, else the process defaults (opened off the event loop)."""
    found = dependencies_from(config)
    if found is not None:
        return found
    if _defaults is not None:
        return _defaults
    return await asyncio.to_thread(process_defaults)

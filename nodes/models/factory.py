"""The chat-model factory: one ``ModelRegistry`` per ``Settings`` turns a catalog name into a
LangChain chat model, with that settings' keys, timeouts and extra models.

There is no process-wide registry: whoever owns the settings (the API app, the CLI, an
evaluation, a test) builds one and passes it with the run (``graphs.dependencies``).
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from nodes.models.catalog import CATALOG_NAME_KEY, ModelCatalog, ModelSpec
from routeur.settings import ConfigurationError, Settings

if TYPE_CHECKING:
    from retrievers.word_vectors import WordVectors

ChatModelFactory = Callable[[ModelSpec, float], BaseChatModel]


class ModelUnavailableError(RuntimeError):
    """The model exists in the catalog but cannot be used here (missing key, missing package)."""


class ModelRegistry:
    """The catalog declared by ``settings`` (built-ins plus its extra-models file), custom
    factories added in code (tests' fakes, in-house providers), and the factory itself."""

    def __init__(self, settings: Settings, catalog: ModelCatalog | None = None):
        self.settings = settings
        self.catalog = catalog if catalog is not None else ModelCatalog.from_file(settings.extra_models_file)
        self._custom: dict[str, ChatModelFactory] = {}

    @cached_property
    def word_vectors(self) -> WordVectors | None:
        """The offline answerer's word vectors (``settings.word_vectors``), loaded the first time
        a local model is built and shared by every one this registry builds."""
        from retrievers.word_vectors import load_word_vectors

        return load_word_vectors(self.settings.word_vectors, self.settings.resolved_word_vectors_dir())

    def check_default(self) -> None:
        """``ConfigurationError`` unless the settings' default model is in the catalog (the
        models file itself is checked as it loads)."""
        name = self.settings.default_model
        if name not in self.catalog:
            raise ConfigurationError(f"ROUTEUR_DEFAULT_MODEL: {name!r} is not a known model; known: {', '.join(self.names())}")

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelRegistry:
        return cls(settings)

    def add(self, spec: ModelSpec, factory: ChatModelFactory) -> None:
        """Serve ``spec`` with ``factory`` in this registry only."""
        self.catalog.add(spec)
        self._custom[spec.name] = factory

    def remove(self, name: str) -> None:
        self._custom.pop(name, None)
        self.catalog.remove(name)

    def get(self, name: str) -> ModelSpec:
        return self.catalog.get(name)

    def names(self) -> list[str]:
        return self.catalog.names()

    def __contains__(self, name: object) -> bool:
        return name in self.catalog

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self.catalog)

    def is_offline(self, name: str) -> bool:
        """True for models answered by the deterministic offline path (no LLM to ask for JSON)."""
        return name not in self._custom and self.get(name).provider == "local"

    def ensure_available(self, name: str) -> None:
        """Raise ``UnknownModelError`` / ``ModelUnavailableError`` when ``name`` cannot run here."""
        spec = self.get(name)
        if name in self._custom or spec.provider in ("local", "openai-compatible", "python"):
            return
        settings = self.settings
        if spec.provider == "openai" and settings.openai_api_key is None and not os.environ.get("OPENAI_API_KEY"):
            raise ModelUnavailableError(f"Model '{name}' needs ROUTEUR_OPENAI_API_KEY or OPENAI_API_KEY")
        if spec.provider == "mistralai" and settings.mistral_api_key is None and not os.environ.get("MISTRAL_API_KEY"):
            raise ModelUnavailableError(f"Model '{name}' needs ROUTEUR_MISTRAL_API_KEY or MISTRAL_API_KEY")

    def chat(self, name: str, temperature: float) -> BaseChatModel:
        """The chat model ``name``, tagged with its catalog name (``CATALOG_NAME_KEY`` in its
        run metadata): providers report usage under the name they serve (a ``remote_name``, a
        dated version), and the metrics must price it under the catalog's."""
        model = self._build(name, temperature)
        model.metadata = {**(model.metadata or {}), CATALOG_NAME_KEY: name}
        return model

    async def achat(self, name: str, temperature: float) -> BaseChatModel:
        """``chat`` from a coroutine. The first local model reads the word vectors (0.16 s, about
        8 s when they must be exported first): in a worker thread, not on the event loop that
        serves every other request, when the app's default model is an LLM and did not load them
        at start-up."""
        if "word_vectors" not in vars(self) and self.get(name).provider == "local":
            await asyncio.to_thread(lambda: self.word_vectors)
        return self.chat(name, temperature)

    def _build(self, name: str, temperature: float) -> BaseChatModel:
        spec = self.get(name)
        if name in self._custom:
            return self._custom[name](spec, temperature)
        settings = self.settings
        if spec.provider == "local":
            from nodes.models.extractive import ExtractiveChatModel

            return ExtractiveChatModel(word_vectors=self.word_vectors)
        if spec.provider == "python":
            return _import_factory(spec.factory or "")(spec, temperature)
        self.ensure_available(name)
        if spec.provider == "openai":
            key = settings.openai_api_key
            return _openai(spec, spec.name, temperature, key.get_secret_value() if key else None, settings.openai_base_url, settings)
        if spec.provider == "openai-compatible":
            key = os.environ.get(spec.api_key_env, "") if spec.api_key_env else ""
            return _openai(spec, spec.remote_name or spec.name, temperature, key or "not-needed", spec.base_url, settings)
        if spec.provider == "mistralai":
            from langchain_mistralai import ChatMistralAI

            mkey = settings.mistral_api_key
            kwargs = {"api_key": mkey.get_secret_value()} if mkey else {}
            return ChatMistralAI(
                model=spec.name,
                temperature=temperature,
                timeout=int(_timeout(spec, settings)),
                max_retries=_retries(spec, settings),
                **kwargs,
            )
        raise ModelUnavailableError(f"No factory for provider '{spec.provider}'")

    def structured(self, name: str, schema: type) -> Runnable:
        """``name`` answering with ``schema`` at temperature 0, the way its spec says the provider
        does structured output (langchain-openai's default, a JSON schema, is not what every
        OpenAI-compatible endpoint supports)."""
        return self.chat(name, 0.0).with_structured_output(schema, method=self.get(name).structured_output)


def _import_factory(path: str) -> ChatModelFactory:
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ModelUnavailableError(f"A python model factory is 'module:callable', got '{path}'")
    return getattr(importlib.import_module(module_name), attribute)


def _timeout(spec: ModelSpec, settings: Settings) -> float:
    return spec.timeout_s if spec.timeout_s is not None else settings.model_timeout_s


def _retries(spec: ModelSpec, settings: Settings) -> int:
    return spec.max_retries if spec.max_retries is not None else settings.model_max_retries


def _openai(
    spec: ModelSpec, model: str, temperature: float, key: str | None, base_url: str | None, settings: Settings
) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    kwargs = {"api_key": key} if key else {}
    return ChatOpenAI(
        model=model,
        temperature=temperature,
        base_url=base_url,
        stream_usage=True,
        # Its per-chunk asyncio.wait_for can swallow a cancellation on Python 3.11 (fixed in 3.12),
        # leaving the upstream stream running after a client leaves. The client's read timeout
        # (``timeout`` below) already bounds a stalled stream.
        stream_chunk_timeout=None,
        timeout=_timeout(spec, settings),
        max_retries=_retries(spec, settings),
        **kwargs,
    )

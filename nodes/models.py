"""The chat-model factory: one place turns a catalog name into a LangChain chat model."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from functools import lru_cache

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from nodes.catalog import ModelCatalog, ModelSpec
from routeur.settings import Settings, get_settings

ModelFactory = Callable[[ModelSpec, float], BaseChatModel]


class ModelUnavailableError(RuntimeError):
    """The model exists in the catalog but cannot be used here (missing key, missing package)."""


_custom_factories: dict[str, ModelFactory] = {}


@lru_cache(maxsize=1)
def get_catalog() -> ModelCatalog:
    return ModelCatalog.from_file(get_settings().extra_models_file)


def register_model(spec: ModelSpec, factory: ModelFactory) -> None:
    """Add a model served by ``factory`` (tests' fake models, in-house providers)."""
    get_catalog().add(spec)
    _custom_factories[spec.name] = factory


def unregister_model(name: str) -> None:
    _custom_factories.pop(name, None)
    get_catalog().remove(name)


def _import_factory(path: str) -> ModelFactory:
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ModelUnavailableError(f"A python model factory is 'module:callable', got '{path}'")
    return getattr(importlib.import_module(module_name), attribute)


def is_offline(name: str) -> bool:
    """True for models answered by the deterministic offline path (no LLM to ask for JSON)."""
    return name not in _custom_factories and get_catalog().get(name).provider == "local"


def ensure_available(name: str, settings: Settings | None = None) -> None:
    """Raise ``ModelUnavailableError`` when the model's provider is not configured here."""
    spec = get_catalog().get(name)
    if name in _custom_factories or spec.provider in ("local", "openai-compatible", "python"):
        return
    settings = settings or get_settings()
    if spec.provider == "openai" and settings.openai_api_key is None and not os.environ.get("OPENAI_API_KEY"):
        raise ModelUnavailableError(f"Model '{name}' needs ROUTEUR_OPENAI_API_KEY or OPENAI_API_KEY")
    if spec.provider == "mistralai" and settings.mistral_api_key is None and not os.environ.get("MISTRAL_API_KEY"):
        raise ModelUnavailableError(f"Model '{name}' needs ROUTEUR_MISTRAL_API_KEY or MISTRAL_API_KEY")


def build_chat_model(name: str, temperature: float, settings: Settings | None = None) -> BaseChatModel:
    spec = get_catalog().get(name)
    if name in _custom_factories:
        return _custom_factories[name](spec, temperature)
    settings = settings or get_settings()
    if spec.provider == "local":
        from nodes.extractive import ExtractiveChatModel

        return ExtractiveChatModel()
    if spec.provider == "python":
        return _import_factory(spec.factory or "")(spec, temperature)
    ensure_available(name, settings)
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


def build_structured_model(name: str, schema: type, settings: Settings | None = None) -> Runnable:
    """``name`` answering with ``schema`` at temperature 0, the way its spec says the provider
    does structured output (langchain-openai's default, a JSON schema, is not what every
    OpenAI-compatible endpoint supports)."""
    return build_chat_model(name, 0.0, settings).with_structured_output(schema, method=get_catalog().get(name).structured_output)


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

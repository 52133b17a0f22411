"""The chat-model factory: one place turns a catalog name into a LangChain chat model."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache

from langchain_core.language_models import BaseChatModel

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


def is_offline(name: str) -> bool:
    """True for models answered by the deterministic offline path (no LLM to ask for JSON)."""
    return name not in _custom_factories and get_catalog().get(name).provider == "local"


def ensure_available(name: str, settings: Settings | None = None) -> None:
    """Raise ``ModelUnavailableError`` when the model's provider is not configured here."""
    spec = get_catalog().get(name)
    if name in _custom_factories or spec.provider in ("local", "openai-compatible"):
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
    ensure_available(name, settings)
    if spec.provider == "openai":
        key = settings.openai_api_key
        return _openai(spec.name, temperature, key.get_secret_value() if key else None, settings.openai_base_url, settings)
    if spec.provider == "openai-compatible":
        key = os.environ.get(spec.api_key_env, "") if spec.api_key_env else ""
        return _openai(spec.remote_name or spec.name, temperature, key or "not-needed", spec.base_url, settings)
    if spec.provider == "mistralai":
        from langchain_mistralai import ChatMistralAI

        mkey = settings.mistral_api_key
        kwargs = {"api_key": mkey.get_secret_value()} if mkey else {}
        return ChatMistralAI(
            model=spec.name,
            temperature=temperature,
            timeout=int(settings.model_timeout_s),
            max_retries=settings.model_max_retries,
            **kwargs,
        )
    raise ModelUnavailableError(f"No factory for provider '{spec.provider}'")


def _openai(model: str, temperature: float, key: str | None, base_url: str | None, settings: Settings) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    kwargs = {"api_key": key} if key else {}
    return ChatOpenAI(
        model=model,
        temperature=temperature,
        base_url=base_url,
        stream_usage=True,
        timeout=settings.model_timeout_s,
        max_retries=settings.model_max_retries,
        **kwargs,
    )
